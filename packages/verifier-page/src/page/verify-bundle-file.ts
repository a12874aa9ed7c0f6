import {
  BundleError,
  type BundleStep,
  type PublisherKeys,
  verifyBundle,
} from '@quittance/verifier';
import { type PageResult, type TimelineFacts, toTimelineFacts } from './report-model';

/**
 * An export bundle or an order evidence zip, verified by the verifier's own bundle code (what
 * `quittance verify BUNDLE.zip` runs), streamed from the File under the same caps. A zip that
 * cannot be read at all throws with the verifier's message.
 */
export async function verifyBundleFile(
  bundle: File,
  trust: { publisher: PublisherKeys; tsaTrustAnchors: Uint8Array[] | undefined },
  progress: (done: number, total: number, phase: string) => void,
): Promise<Omit<PageResult, 'pinned'>> {
  let result: Awaited<ReturnType<typeof verifyBundle>>;
  // The timeline's facts (time, agent, tool, bucket), gathered as the receipts are read; each
  // receipt's verdict comes from its report, by id.
  const facts: TimelineFacts[] = [];
  try {
    result = await verifyBundle(
      bundle,
      {
        publisher: trust.publisher,
        tsaTrustAnchors: trust.tsaTrustAnchors,
        keepReceipts: true,
        label: bundle.name,
        onReceiptRead: (receipt) => {
          const fact = toTimelineFacts(receipt, facts.length);
          if (fact) facts.push(fact);
        },
      },
      ({ step, receipts, totalReceipts }) =>
        progress(receipts, step === 'receipts' ? totalReceipts : 0, STEP_WORDS[step]),
    );
  } catch (error) {
    if (error instanceof BundleError)
      throw new Error(`This zip cannot be verified: ${error.message}`);
    throw error;
  }
  return {
    subject: bundle.name,
    // The shape of `quittance verify BUNDLE.zip --json`, members in its order.
    json: {
      receipts: result.receipts,
      claims: result.claims,
      bundle: { kind: result.kind, orderId: result.orderId },
      ok: result.ok,
    },
    bundle: {
      kind: result.kind,
      orderId: result.orderId,
      receiptCount: result.receiptCount,
      counts: result.counts,
    },
    facts: result.kind === 'order-evidence' ? facts : [],
  };
}

const STEP_WORDS: Record<BundleStep, string> = {
  manifest: 'reading the manifest',
  snapshots: 'checking the key snapshots',
  checkpoints: 'checking the checkpoints',
  chain: 'checking the chain',
  receipts: 'verifying receipts',
  files: 'checking file hashes',
};

import {
  BundleError,
  type BundleStep,
  DEFAULT_LIMITS,
  FILES,
  PortableZipReader,
  type PublisherKeys,
  verifyBundle,
} from '@quittance/verifier';
import { type PageResult, type TimelineFacts, toTimelineFacts } from './report-model';

/** receipts.jsonl of an order evidence bundle is read again for the timeline, up to this. */
const TIMELINE_TEXT_BYTES = 64 * 1024 * 1024;

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
  try {
    result = await verifyBundle(
      bundle,
      {
        publisher: trust.publisher,
        tsaTrustAnchors: trust.tsaTrustAnchors,
        keepReceipts: true,
        label: bundle.name,
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
    facts: result.kind === 'order-evidence' ? await orderFacts(bundle) : [],
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

/**
 * The order's receipts as the timeline shows them (time, agent, tool, bucket). Only facts
 * for display: each receipt's verdict comes from the verification above, by id.
 */
async function orderFacts(bundle: File): Promise<TimelineFacts[]> {
  const zip = await PortableZipReader.open(bundle, bundle.name, DEFAULT_LIMITS);
  try {
    if (!zip.entries.has(FILES.receipts)) return [];
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of zip.chunks(FILES.receipts)) {
      text += decoder.decode(chunk, { stream: true });
      if (text.length > TIMELINE_TEXT_BYTES) return [];
    }
    const facts: TimelineFacts[] = [];
    let index = 0;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        const fact = toTimelineFacts(JSON.parse(line), index++);
        if (fact) facts.push(fact);
      } catch {
        // A line that is not JSON is refuted by the verification; it has no place in time.
      }
    }
    return facts;
  } catch {
    return [];
  } finally {
    zip.close();
  }
}

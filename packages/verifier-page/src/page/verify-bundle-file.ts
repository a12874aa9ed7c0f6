import {
  BundleError,
  BundleReportJson,
  type BundleStep,
  type PublisherKeys,
  verifyBundle,
} from '@quittance/verifier';
import { ReportCollector, TextBlob } from './report-collector';
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
  const collector = new ReportCollector();
  // The report as `quittance verify BUNDLE.zip --json` streams it, written as it goes.
  const text = new TextBlob();
  const json = new BundleReportJson((piece) => text.write(piece));
  // An order's timeline: each receipt's facts (time, agent, tool, bucket), gathered as the
  // receipts are read; the verdicts come from the reports. Exports have no timeline.
  const facts: TimelineFacts[] = [];
  try {
    result = await verifyBundle(
      bundle,
      {
        publisher: trust.publisher,
        tsaTrustAnchors: trust.tsaTrustAnchors,
        label: bundle.name,
        onReceiptRead: (receipt, kind) => {
          if (kind !== 'order-evidence') return;
          collector.trackVerdicts();
          const fact = toTimelineFacts(receipt, facts.length);
          if (fact) facts.push(fact);
        },
        onReceipt: (report) => {
          json.receipt(report);
          collector.add(report);
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
  json.end(result);
  return {
    subject: bundle.name,
    ok: result.ok,
    ...collector.summary(result.claims),
    bundle: {
      kind: result.kind,
      orderId: result.orderId,
      receiptCount: result.receiptCount,
      counts: result.counts,
    },
    timeline: collector.timeline(facts),
    report: text.blob('application/json'),
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

import {
  BundleError,
  type BundleVerification,
  type PublisherKeys,
  type ReceiptReport,
  verifyBundle,
} from '@quittance/verifier';
import { renderBundleSummary } from '../render';

/**
 * `quittance verify BUNDLE.zip`: streams the bundle; shows progress on a terminal; prints
 * counts per claim and the first failures, or with `--json` the full report, written as it
 * goes so that memory does not grow with the bundle. An unreadable bundle throws
 * {@link BundleError} (the caller prints it in one line, exit status 2).
 */
export async function verifyBundleCommand(
  path: string,
  options: { publisher: PublisherKeys; tsaTrustAnchors: Uint8Array[] | undefined; json: boolean },
): Promise<number> {
  const out = process.stdout;
  const progress = process.stderr.isTTY && !options.json;
  // --json streams receipts as they are verified; the document is opened with the first.
  let opened = false;
  const open = () => {
    if (!opened) out.write('{"receipts":[');
    opened = true;
  };
  let first = true;
  let result: BundleVerification;
  try {
    result = await verifyBundle(
      path,
      {
        publisher: options.publisher,
        ...(options.tsaTrustAnchors ? { tsaTrustAnchors: options.tsaTrustAnchors } : {}),
        onReceipt: options.json
          ? (report: ReceiptReport) => {
              open();
              out.write(`${first ? '' : ','}\n${JSON.stringify(report)}`);
              first = false;
            }
          : undefined,
      },
      progress
        ? ({ step, receipts, totalReceipts }) => {
            if (step === 'receipts')
              process.stderr.write(
                `\rverifying receipts: ${receipts}${totalReceipts ? ` / ${totalReceipts}` : ''}   `,
              );
          }
        : undefined,
    );
  } catch (error) {
    if (progress) process.stderr.write('\n');
    // Stopped half-way (unreadable, or a failure of our own): whatever JSON was written is
    // closed, so stdout stays one document.
    if (opened)
      out.write(
        `\n],"claims":{},"ok":false,"error":${JSON.stringify((error as Error)?.message ?? String(error))}}\n`,
      );
    throw error;
  }
  if (progress) process.stderr.write('\n');
  if (options.json) {
    open();
    // SPEC §10's members, and what kind of bundle it was (an order evidence bundle names its order).
    const bundle = JSON.stringify({ kind: result.kind, orderId: result.orderId });
    out.write(
      `\n],"claims":${JSON.stringify(result.claims)},"bundle":${bundle},"ok":${result.ok}}\n`,
    );
    return result.ok ? 0 : 1;
  }
  out.write(renderBundleSummary(path, result));
  return result.ok ? 0 : 1;
}

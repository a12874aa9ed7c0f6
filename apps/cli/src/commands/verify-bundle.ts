import {
  BundleError,
  BundleReportJson,
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
  // --json streams receipts as they are verified (the document is opened with the first).
  const json = options.json ? new BundleReportJson((text) => out.write(text)) : undefined;
  let result: BundleVerification;
  try {
    result = await verifyBundle(
      path,
      {
        publisher: options.publisher,
        ...(options.tsaTrustAnchors ? { tsaTrustAnchors: options.tsaTrustAnchors } : {}),
        onReceipt: json && ((report: ReceiptReport) => json.receipt(report)),
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
    // Stopped half-way (unreadable, or a failure of our own).
    json?.abort((error as Error)?.message ?? String(error));
    throw error;
  }
  if (progress) process.stderr.write('\n');
  if (json) {
    json.end(result);
    return result.ok ? 0 : 1;
  }
  out.write(renderBundleSummary(path, result));
  return result.ok ? 0 : 1;
}

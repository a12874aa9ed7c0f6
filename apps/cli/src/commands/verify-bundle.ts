import { BundleError, type BundleVerification, verifyBundle } from '@quittance/bundle';
import type { Claim, PublisherKeys, ReceiptReport } from '@quittance/verifier';
import { UsageError } from '../usage';

/**
 * `quittance verify BUNDLE.zip`: streams the bundle; shows progress on a terminal; prints
 * counts per claim and the first failures, or with `--json` the full report, written as it
 * goes so that memory does not grow with the bundle.
 */
export async function verifyBundleCommand(
  path: string,
  options: { publisher: PublisherKeys; tsaTrustAnchors: Uint8Array[] | undefined; json: boolean },
): Promise<number> {
  const out = process.stdout;
  const progress = process.stderr.isTTY && !options.json;
  let first = true;
  if (options.json) out.write('{"receipts":[');
  let result: BundleVerification;
  try {
    result = await verifyBundle(path, {
      publisher: options.publisher,
      ...(options.tsaTrustAnchors ? { tsaTrustAnchors: options.tsaTrustAnchors } : {}),
      onReceipt: options.json
        ? (report: ReceiptReport) => {
            out.write(`${first ? '' : ','}\n${JSON.stringify(report)}`);
            first = false;
          }
        : undefined,
      onProgress: progress
        ? (done: number, total: number) =>
            process.stderr.write(`\rverifying receipts: ${done}${total ? ` / ${total}` : ''}   `)
        : undefined,
    });
  } catch (error) {
    if (error instanceof BundleError) throw new UsageError(error.message);
    throw error;
  }
  if (progress) process.stderr.write('\n');
  if (options.json) {
    out.write(`\n],"claims":${JSON.stringify(result.claims)},"ok":${result.ok}}\n`);
    return result.ok ? 0 : 1;
  }
  out.write(renderBundleSummary(path, result));
  return result.ok ? 0 : 1;
}

const MARK: Record<Claim['status'], string> = {
  asserted: 'ok  ',
  refuted: 'FAIL',
  unknown: '??  ',
};

export function renderBundleSummary(path: string, result: BundleVerification): string {
  const lines = [`bundle ${path}`];
  for (const [name, claim] of Object.entries(result.claims)) {
    lines.push(
      `  ${MARK[claim.status]} ${name.padEnd(20)} ${claim.status.padEnd(8)} ${claim.reason}`,
    );
  }
  lines.push(`receipts: ${result.receiptCount}`);
  for (const [name, counts] of Object.entries(result.counts)) {
    lines.push(
      `  ${name.padEnd(22)} ${String(counts.asserted).padStart(8)} asserted ${String(counts.refuted).padStart(8)} refuted ${String(counts.unknown).padStart(8)} unknown`,
    );
  }
  if (result.firstFailures.length) {
    lines.push('first failures:');
    for (const f of result.firstFailures) lines.push(`  ${f.id} ${f.claim}: ${f.reason}`);
  }
  lines.push(
    result.ok
      ? 'PASS  no claim refuted (unknown means not proven)'
      : 'FAIL  at least one claim is refuted',
  );
  return `${lines.join('\n')}\n`;
}

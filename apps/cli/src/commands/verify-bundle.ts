import { BundleError, type BundleVerification, verifyBundle } from '@quittance/bundle';
import type { Claim, PublisherKeys, ReceiptReport } from '@quittance/verifier';

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
    result = await verifyBundle(path, {
      publisher: options.publisher,
      ...(options.tsaTrustAnchors ? { tsaTrustAnchors: options.tsaTrustAnchors } : {}),
      onReceipt: options.json
        ? (report: ReceiptReport) => {
            open();
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
    if (progress) process.stderr.write('\n');
    // Unreadable half-way: whatever JSON was written is closed, so stdout stays one document.
    if (opened && error instanceof BundleError)
      out.write(`\n],"claims":{},"ok":false,"error":${JSON.stringify(error.message)}}\n`);
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

const MARK: Record<Claim['status'], string> = {
  asserted: 'ok  ',
  refuted: 'FAIL',
  unknown: '??  ',
};

/** Names and reasons quote the bundle: its control characters are shown, not obeyed. */
export function printable(text: string): string {
  let out = '';
  for (const char of text) {
    const code = char.charCodeAt(0);
    out +=
      code < 0x20 || (code >= 0x7f && code <= 0x9f)
        ? `\\u${code.toString(16).padStart(4, '0')}`
        : char;
  }
  return out;
}

export function renderBundleSummary(path: string, result: BundleVerification): string {
  const lines = [`bundle ${path}`];
  if (result.kind === 'order-evidence')
    lines.push(
      `order evidence for order ${printable(result.orderId ?? '(unknown: no usable manifest)')} with ${result.receiptCount} receipt${result.receiptCount === 1 ? '' : 's'}`,
    );
  for (const [name, claim] of Object.entries(result.claims)) {
    lines.push(
      `  ${MARK[claim.status]} ${name.padEnd(20)} ${claim.status.padEnd(8)} ${printable(claim.reason)}`,
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
    for (const f of result.firstFailures)
      lines.push(`  ${printable(f.id)} ${f.claim}: ${printable(f.reason)}`);
  }
  lines.push(
    result.ok
      ? 'PASS  no claim refuted (unknown means not proven)'
      : 'FAIL  at least one claim is refuted',
  );
  return `${lines.join('\n')}\n`;
}

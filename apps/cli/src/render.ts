import type { BundleVerification, Claim, VerificationReport } from '@quittance/verifier';

const MARK: Record<Claim['status'], string> = {
  asserted: 'ok  ',
  refuted: 'FAIL',
  unknown: '??  ',
};

/**
 * An asserted claim that rests on what the evidence's maker says (`operator_asserted`: no
 * pinned publisher key or TSA roots) is marked so, as `--json` says it with `source`.
 */
const word = (claim: Claim) =>
  claim.status === 'asserted' && claim.source === 'operator_asserted'
    ? " [operator's word: pin your own --publisher / --tsa-trust to prove it]"
    : '';

/** Human output: one line per claim, then PASS or FAIL with counts. */
export function renderReport(report: VerificationReport): string {
  const lines: string[] = [];
  const claimLines = (claims: object, indent: string) => {
    for (const [name, claim] of Object.entries(claims) as [string, Claim][]) {
      lines.push(
        `${indent}${MARK[claim.status]} ${name.padEnd(22)} ${claim.status.padEnd(8)} ${printable(claim.reason)}${word(claim)}`,
      );
    }
  };
  claimLines(report.claims, '');
  for (const receipt of report.receipts) {
    // The id and the reasons quote the receipt: a forged "PASS" line must not print as one.
    lines.push(`receipt ${printable(receipt.id)}`);
    claimLines(receipt.claims, '  ');
  }
  const counts = { asserted: 0, refuted: 0, unknown: 0 };
  const all = [report.claims, ...report.receipts.map((r) => r.claims)];
  for (const claims of all)
    for (const claim of Object.values(claims) as Claim[]) counts[claim.status]++;
  const n = report.receipts.length;
  const summary = `${n} receipt${n === 1 ? '' : 's'}: ${counts.asserted} asserted, ${counts.refuted} refuted, ${counts.unknown} unknown`;
  lines.push(report.ok ? `PASS  ${summary} (unknown means not proven)` : `FAIL  ${summary}`);
  return `${lines.join('\n')}\n`;
}

/** Names and reasons quote the bundle: its control characters are shown, not obeyed. */
export function printable(text: string): string {
  // One replace, not a string grown a character at a time (a rope per character, which took
  // gigabytes for a few hundred thousand reasons).
  return text.replace(CONTROL, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** Human output of a bundle: its claims, counts per receipt claim, the first failures, the verdict. */
export function renderBundleSummary(path: string, result: BundleVerification): string {
  const lines = [`bundle ${path}`];
  if (result.kind === 'order-evidence')
    lines.push(
      `order evidence for order ${printable(result.orderId ?? '(unknown: no usable manifest)')} with ${result.receiptCount} receipt${result.receiptCount === 1 ? '' : 's'}`,
    );
  for (const [name, claim] of Object.entries(result.claims)) {
    lines.push(
      `  ${MARK[claim.status]} ${name.padEnd(20)} ${claim.status.padEnd(8)} ${printable(claim.reason)}${word(claim)}`,
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

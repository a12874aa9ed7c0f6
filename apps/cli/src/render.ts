import type { Claim, VerificationReport } from '@quittance/verifier';

const MARK: Record<Claim['status'], string> = {
  asserted: 'ok  ',
  refuted: 'FAIL',
  unknown: '??  ',
};

/** Human output: one line per claim, then PASS or FAIL with counts. */
export function renderReport(report: VerificationReport): string {
  const lines: string[] = [];
  const claimLines = (claims: object, indent: string) => {
    for (const [name, claim] of Object.entries(claims) as [string, Claim][]) {
      lines.push(
        `${indent}${MARK[claim.status]} ${name.padEnd(22)} ${claim.status.padEnd(8)} ${claim.reason}`,
      );
    }
  };
  claimLines(report.claims, '');
  for (const receipt of report.receipts) {
    lines.push(`receipt ${receipt.id}`);
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

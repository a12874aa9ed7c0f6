import type { Claim, ClaimSource, ClaimStatus, ReceiptClaims, ReceiptReport } from '../claims';

// Reports cross from a worker thread to the main thread as one JSON string per batch: cloning
// a batch of report objects (seven claims, each with its reason) cost more than verifying
// the batch's signatures took in the profile of bench/export-verify.ts.

const STATUS: Record<ClaimStatus, string> = { asserted: 'a', refuted: 'r', unknown: 'u' };
const SOURCE: Record<ClaimSource, string> = { verifier_derived: 'v', operator_asserted: 'o' };
const STATUS_OF: Record<string, ClaimStatus> = { a: 'asserted', r: 'refuted', u: 'unknown' };
const SOURCE_OF: Record<string, ClaimSource> = { v: 'verifier_derived', o: 'operator_asserted' };

/**
 * A batch of reports as text. With `refutedReasonsOnly`, the reasons of claims that are not
 * refuted are left out: a caller that keeps no report needs only the statuses and the reasons
 * of failures.
 */
export function encodeReports(reports: ReceiptReport[], refutedReasonsOnly: boolean): string {
  return JSON.stringify(
    reports.map((report) => {
      const row: string[] = [report.id];
      for (const [name, claim] of Object.entries(report.claims) as [string, Claim][])
        row.push(
          name,
          STATUS[claim.status] + SOURCE[claim.source],
          refutedReasonsOnly && claim.status !== 'refuted' ? '' : claim.reason,
        );
      return row;
    }),
  );
}

export function decodeReports(text: string): ReceiptReport[] {
  return (JSON.parse(text) as string[][]).map((row) => {
    const claims: Record<string, Claim> = {};
    for (let i = 1; i + 2 < row.length; i += 3) {
      const code = row[i + 1] as string;
      claims[row[i] as string] = {
        status: STATUS_OF[code[0] as string] as ClaimStatus,
        source: SOURCE_OF[code[1] as string] as ClaimSource,
        reason: row[i + 2] as string,
      };
    }
    return { id: row[0] as string, claims: claims as unknown as ReceiptClaims };
  });
}

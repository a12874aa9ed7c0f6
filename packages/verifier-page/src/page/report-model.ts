import type { Claim, ClaimStatus, ReceiptReport } from '@quittance/verifier';

/** The facts of a receipt an order timeline shows. */
export interface TimelineFacts {
  id: string;
  /** Position among the receipts given (ids may repeat in hostile or tampered input). */
  index: number;
  createdAt: string;
  agentId: string;
  tool: string;
  bucket: string;
  orderId?: string;
}

/**
 * The `--json` document of `quittance verify`: SPEC §10's report for receipt files; for a
 * bundle the same members plus `bundle` (its kind and order), in the command's order.
 */
export type CliJson =
  | { ok: boolean; claims: Record<string, Claim>; receipts: ReceiptReport[] }
  | {
      receipts: ReceiptReport[];
      claims: Record<string, Claim>;
      bundle: { kind: 'export' | 'order-evidence'; orderId: string | null };
      ok: boolean;
    };

export interface BundleSummary {
  kind: 'export' | 'order-evidence';
  orderId: string | null;
  receiptCount: number;
  counts: Record<string, Record<ClaimStatus, number>>;
}

/** What the worker hands back for one verification. */
export interface PageResult {
  /** What was verified, in words: file names. */
  subject: string;
  json: CliJson;
  bundle?: BundleSummary;
  facts: TimelineFacts[];
  /** Whether claims could not be decided because something is not pinned. */
  pinned: { publisher: boolean; tsa: boolean };
}

export type Verdict = 'PASS' | 'FAIL' | 'NOT PROVEN';

const RANK: Record<ClaimStatus, number> = { refuted: 0, unknown: 1, asserted: 2 };
const VERDICT_RANK: Record<Verdict, number> = { FAIL: 0, 'NOT PROVEN': 1, PASS: 2 };

/** Refuted anywhere is FAIL (exit 1 of the command); all asserted is PASS; else NOT PROVEN. */
export function verdictOf(claims: Iterable<Claim | undefined>): Verdict {
  let verdict: Verdict = 'PASS';
  for (const claim of claims) {
    if (claim?.status === 'refuted') return 'FAIL';
    if (claim?.status === 'unknown') verdict = 'NOT PROVEN';
  }
  return verdict;
}

export const claimsOf = (claims: object) =>
  Object.entries(claims).filter((entry): entry is [string, Claim] => entry[1] !== undefined);

export function overallVerdict(json: CliJson): Verdict {
  // `ok` is false exactly when a claim is refuted (SPEC §10); it is the command's exit status.
  if (!json.ok) return 'FAIL';
  return verdictOf(
    [json.claims, ...json.receipts.map((r) => r.claims)].flatMap((c) => Object.values(c)),
  );
}

/** Claims with failures first, then the undecided, then the passed; stable otherwise. */
export function claimsFailuresFirst(claims: object): [string, Claim][] {
  return claimsOf(claims).sort(([, a], [, b]) => RANK[a.status] - RANK[b.status]);
}

/** Receipts with a failure first, then the not proven, then those that passed. */
export function receiptsFailuresFirst(
  receipts: ReceiptReport[],
): { report: ReceiptReport; verdict: Verdict; position: number }[] {
  return receipts
    .map((report, position) => ({
      report,
      verdict: verdictOf(Object.values(report.claims)),
      position,
    }))
    .sort((a, b) => VERDICT_RANK[a.verdict] - VERDICT_RANK[b.verdict]);
}

/** How many claims of each status the whole report holds. */
export function countStatuses(json: CliJson): Record<ClaimStatus, number> {
  const counts: Record<ClaimStatus, number> = { asserted: 0, refuted: 0, unknown: 0 };
  for (const claims of [json.claims, ...json.receipts.map((r) => r.claims)])
    for (const [, claim] of claimsOf(claims)) counts[claim.status]++;
  return counts;
}

/** Per claim name: where it failed or stayed undecided, and how often it is the operator's word. */
export interface ClaimTally {
  /** Set when the claim is about the bundle as a whole. */
  bundle?: Claim;
  refuted: number;
  unknown: number;
  operatorAsserted: number;
}

export function tallyClaims(json: CliJson): Map<string, ClaimTally> {
  const tally = new Map<string, ClaimTally>();
  const entry = (name: string) => {
    let found = tally.get(name);
    if (!found) {
      found = { refuted: 0, unknown: 0, operatorAsserted: 0 };
      tally.set(name, found);
    }
    return found;
  };
  for (const [name, claim] of claimsOf(json.claims)) entry(name).bundle = claim;
  for (const receipt of json.receipts)
    for (const [name, claim] of claimsOf(receipt.claims)) {
      const counted = entry(name);
      if (claim.status === 'refuted') counted.refuted++;
      if (claim.status === 'unknown') counted.unknown++;
      if (claim.source === 'operator_asserted') counted.operatorAsserted++;
    }
  return tally;
}

/** The facts of a receipt for the timeline, when it has them. */
export function toTimelineFacts(receipt: unknown, index: number): TimelineFacts | undefined {
  const r = receipt as Record<string, unknown> | null;
  if (!r || typeof r !== 'object' || typeof r.id !== 'string') return undefined;
  const text = (value: unknown) => (typeof value === 'string' ? value : '');
  return {
    id: r.id,
    index,
    createdAt: text(r.createdAt),
    agentId: text(r.agentId),
    tool: text(r.tool),
    bucket: text(r.bucket),
    ...(typeof r.orderId === 'string' ? { orderId: r.orderId } : {}),
  };
}

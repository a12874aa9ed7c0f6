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

export interface BundleSummary {
  kind: 'export' | 'order-evidence';
  orderId: string | null;
  receiptCount: number;
  counts: Record<string, Record<ClaimStatus, number>>;
}

/** A receipt shown in full: its report, its verdict, and its position among those verified. */
export interface ShownReceipt {
  report: ReceiptReport;
  verdict: Verdict;
  position: number;
}

/** A row of an order's timeline: the receipt's facts, its verdict and, when shown, its position. */
export interface TimelineRow extends TimelineFacts {
  verdict?: Verdict;
  shownPosition?: number;
}

/**
 * What the worker hands back for one verification: what the page shows, counted as the
 * reports came, and the whole report as `quittance verify --json` writes it, as a Blob. No
 * list of every receipt's report: a bundle of a million receipts would hold a gigabyte.
 */
export interface PageResult {
  /** What was verified, in words: file names. */
  subject: string;
  /** False exactly when a claim is refuted (SPEC §10), as the command's exit status. */
  ok: boolean;
  /** Claims about the evidence as a whole (a bundle's; a receipts file has none). */
  claims: Record<string, Claim>;
  bundle?: BundleSummary;
  receiptCount: number;
  /** Claims of each status over the whole report, the evidence's own and every receipt's. */
  statusCounts: Record<ClaimStatus, number>;
  /** Per claim name: where it failed or stayed undecided. */
  tally: Map<string, ClaimTally>;
  /** At most {@link SHOWN_RECEIPTS} receipts, failures first, then the not proven. */
  shown: ShownReceipt[];
  /** Each order's receipts, for its timeline (receipts files and order evidence). */
  timeline: TimelineRow[];
  /** The `--json` document of `quittance verify` for this evidence. */
  report: Blob;
  /** Whether claims could not be decided because something is not pinned. */
  pinned: { publisher: boolean; tsa: boolean };
}

/** Receipts shown in full; the rest are in the JSON report (a bundle may hold millions). */
export const SHOWN_RECEIPTS = 200;

export type Verdict = 'PASS' | 'FAIL' | 'NOT PROVEN';

const RANK: Record<ClaimStatus, number> = { refuted: 0, unknown: 1, asserted: 2 };

/** Refuted anywhere is FAIL (exit 1 of the command); all asserted is PASS; else NOT PROVEN. */
export function verdictOf(claims: Iterable<Claim | undefined>): Verdict {
  let verdict: Verdict = 'PASS';
  for (const claim of claims) {
    if (claim?.status === 'refuted') return 'FAIL';
    if (claim?.status === 'unknown') verdict = 'NOT PROVEN';
  }
  return verdict;
}

/** The verdict of the whole report: `ok` false (a refuted claim) is FAIL, as exit status 1. */
export function overallVerdict(result: Pick<PageResult, 'ok' | 'statusCounts'>): Verdict {
  if (!result.ok || result.statusCounts.refuted > 0) return 'FAIL';
  return result.statusCounts.unknown > 0 ? 'NOT PROVEN' : 'PASS';
}

export const claimsOf = (claims: object) =>
  Object.entries(claims).filter((entry): entry is [string, Claim] => entry[1] !== undefined);

/** Claims with failures first, then the undecided, then the passed; stable otherwise. */
export function claimsFailuresFirst(claims: object): [string, Claim][] {
  return claimsOf(claims).sort(([, a], [, b]) => RANK[a.status] - RANK[b.status]);
}

/** Per claim name: where it failed or stayed undecided, and how often it is the operator's word. */
export interface ClaimTally {
  /** Set when the claim is about the bundle as a whole. */
  bundle?: Claim;
  refuted: number;
  unknown: number;
  operatorAsserted: number;
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

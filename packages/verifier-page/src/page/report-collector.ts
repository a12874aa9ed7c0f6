import type { Claim, ClaimStatus, ReceiptReport } from '@quittance/verifier';
import {
  type ClaimTally,
  claimsOf,
  type PageResult,
  SHOWN_RECEIPTS,
  type ShownReceipt,
  type TimelineFacts,
  type TimelineRow,
  type Verdict,
  verdictOf,
} from './report-model';

/**
 * What the page shows, gathered from each receipt's report as it comes, without keeping the
 * reports: counts, each claim's failures, the first {@link SHOWN_RECEIPTS} receipts of each
 * verdict (enough for the failures-first list) and, for timelines, each position's id and
 * verdict. Memory is bounded but for those two arrays, kept only when a timeline is wanted.
 */
export class ReportCollector {
  #count = 0;
  readonly #statusCounts: Record<ClaimStatus, number> = { asserted: 0, refuted: 0, unknown: 0 };
  readonly #tally = new Map<string, ClaimTally>();
  readonly #kept: Record<Verdict, ShownReceipt[]> = { FAIL: [], 'NOT PROVEN': [], PASS: [] };
  #ids: string[] | undefined;
  #verdicts: Verdict[] | undefined;

  /** Keeps each position's id and verdict from now on, for {@link timeline}. */
  trackVerdicts(): void {
    this.#ids ??= [];
    this.#verdicts ??= [];
  }

  get receiptCount(): number {
    return this.#count;
  }

  add(report: ReceiptReport): void {
    const position = this.#count++;
    const verdict = verdictOf(Object.values(report.claims));
    for (const [name, claim] of claimsOf(report.claims)) {
      this.#statusCounts[claim.status]++;
      const counted = this.#entry(this.#tally, name);
      if (claim.status === 'refuted') counted.refuted++;
      if (claim.status === 'unknown') counted.unknown++;
      if (claim.source === 'operator_asserted') counted.operatorAsserted++;
    }
    const kept = this.#kept[verdict];
    if (kept.length < SHOWN_RECEIPTS) kept.push({ report, verdict, position });
    if (this.#ids && this.#verdicts) {
      this.#ids[position] = report.id;
      this.#verdicts[position] = verdict;
    }
  }

  /**
   * The summary, once every receipt was added, with the claims about the evidence as a whole
   * (counted first, as they are listed first).
   */
  summary(
    claims: Record<string, Claim>,
  ): Pick<PageResult, 'claims' | 'receiptCount' | 'statusCounts' | 'tally' | 'shown'> {
    const statusCounts = { ...this.#statusCounts };
    const tally = new Map<string, ClaimTally>();
    for (const [name, claim] of claimsOf(claims)) {
      statusCounts[claim.status]++;
      this.#entry(tally, name).bundle = claim;
    }
    for (const [name, counted] of this.#tally) tally.set(name, { ...tally.get(name), ...counted });
    return {
      claims,
      receiptCount: this.#count,
      statusCounts,
      tally,
      shown: this.#shown(),
    };
  }

  /** The failures-first list: failures, then the not proven, then the passed, each in order. */
  #shown(): ShownReceipt[] {
    const { FAIL, 'NOT PROVEN': unproven, PASS } = this.#kept;
    return [...FAIL, ...unproven, ...PASS].slice(0, SHOWN_RECEIPTS);
  }

  /**
   * Each fact with its receipt's verdict: the report at the fact's position when it has the
   * fact's id (a receipts file), else the last report with that id (ids may repeat in hostile
   * input). Its position too when that receipt is shown in full.
   */
  timeline(facts: TimelineFacts[]): TimelineRow[] {
    const ids = this.#ids ?? [];
    const verdicts = this.#verdicts ?? [];
    const shown = new Set(this.#shown().map((s) => s.position));
    let positionById: Map<string, number> | undefined;
    return facts.map((fact) => {
      let position: number | undefined = fact.index;
      if (ids[fact.index] !== fact.id) {
        positionById ??= new Map(ids.map((id, i) => [id, i]));
        position = positionById.get(fact.id);
      }
      const verdict = position === undefined ? undefined : verdicts[position];
      return {
        ...fact,
        ...(verdict ? { verdict } : {}),
        ...(position !== undefined && shown.has(position) ? { shownPosition: position } : {}),
      };
    });
  }

  #entry(tally: Map<string, ClaimTally>, name: string): ClaimTally {
    let found = tally.get(name);
    if (!found) {
      found = { refuted: 0, unknown: 0, operatorAsserted: 0 };
      tally.set(name, found);
    }
    return found;
  }
}

/**
 * A text written piece by piece into Blobs of about a megabyte: the browser keeps Blob data
 * outside the page's heap (and may page it to disk), so a report of a million receipts does
 * not sit in the worker's memory.
 */
export class TextBlob {
  readonly #parts: Blob[] = [];
  #pending: string[] = [];
  #pendingLength = 0;

  write(text: string): void {
    this.#pending.push(text);
    this.#pendingLength += text.length;
    if (this.#pendingLength >= 1 << 20) this.#flush();
  }

  blob(type: string): Blob {
    this.#flush();
    return new Blob(this.#parts, { type });
  }

  #flush(): void {
    if (this.#pending.length) this.#parts.push(new Blob(this.#pending));
    this.#pending = [];
    this.#pendingLength = 0;
  }
}

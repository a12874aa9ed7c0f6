import type { Claim, ClaimStatus, ReceiptReport } from '../claims';

const MAX_FAILURES = 20;

/**
 * The receipts' reports as they come: counts per claim and status, the first failures, and
 * the reports themselves only when asked for (a bundle's receipts are not kept by default).
 */
export class ReceiptTally {
  receiptCount = 0;
  readonly counts: Record<string, Record<ClaimStatus, number>> = {};
  readonly firstFailures: { id: string; claim: string; reason: string }[] = [];
  readonly receipts: ReceiptReport[] = [];
  #reported = -1;

  constructor(
    private readonly options: {
      keepReceipts?: boolean | undefined;
      onReceipt?: ((report: ReceiptReport) => void) | undefined;
      /** Told the receipts verified so far. */
      onProgress?: ((receipts: number) => void) | undefined;
    },
  ) {}

  record(report: ReceiptReport): void {
    this.receiptCount++;
    for (const [name, claim] of Object.entries(report.claims) as [string, Claim][]) {
      const counts = this.counts[name] ?? { asserted: 0, refuted: 0, unknown: 0 };
      this.counts[name] = counts;
      counts[claim.status]++;
      if (claim.status === 'refuted' && this.firstFailures.length < MAX_FAILURES)
        this.firstFailures.push({ id: report.id, claim: name, reason: claim.reason });
    }
    if (this.options.keepReceipts) this.receipts.push(report);
    this.options.onReceipt?.(report);
  }

  /** Reports progress when the count is a multiple of `every` it has not reported yet. */
  progressEvery(every: number): void {
    if (this.receiptCount % every === 0 && this.receiptCount !== this.#reported) this.progress();
  }

  progress(): void {
    this.#reported = this.receiptCount;
    this.options.onProgress?.(this.receiptCount);
  }
}

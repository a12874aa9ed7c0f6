import type { ReceiptReport } from '../claims';
import type { VerifyReceiptOptions } from '../verify-receipt';

// What crosses between a bundle's receipts step and whatever verifies its receipts (inline, or
// a platform's worker threads): types only, so that neither side imports the other.

/** One receipt to verify, with what the bundle knows around it. */
export interface WorkItem {
  receipt: unknown;
  /**
   * The JSON text `receipt` was parsed from: a pool sends it instead of the object (a string
   * crosses to a worker thread far cheaper than an object graph).
   */
  receiptJson?: string;
  previousEntry?: VerifyReceiptOptions['previousEntry'];
  existedBy?: VerifyReceiptOptions['existedBy'];
  bodies?: VerifyReceiptOptions['bodies'];
  /** The receipt's inclusion proof (order evidence bundles), as parsed from proofs.jsonl. */
  proof?: unknown;
}

/** What a worker thread needs to verify receipts as the main thread would. */
export interface WorkerInit {
  /** The newest snapshot document (JSON text): the key history every receipt is checked against. */
  snapshot: string;
  publisher: unknown;
  anchors: Uint8Array[];
  /** Whether the auditor pinned the TSA roots (else a timestamp proves no time). */
  anchorsPinned: boolean;
  /** Nobody keeps the reports: only statuses and the reasons of refuted claims come back. */
  refutedReasonsOnly: boolean;
}

/** Verifies a batch on the calling thread (a pool's main thread when its workers are busy). */
export type LocalVerifier = (items: WorkItem[]) => Promise<ReceiptReport[]>;

/** Receipts verified elsewhere (worker threads), reports handed back in the order given. */
export interface ReceiptPool {
  /** Queues a receipt; resolves when the queue is short enough to take more (back-pressure). */
  add(item: WorkItem, onReports: (reports: ReceiptReport[]) => void): Promise<void>;
  /** Hands back every remaining report, in order. */
  drain(onReports: (reports: ReceiptReport[]) => void): Promise<void>;
  close(): Promise<void>;
}

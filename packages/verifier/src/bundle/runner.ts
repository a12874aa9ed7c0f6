import { platform } from '#platform';
import { type ReceiptReport, refuted, unknown } from '../claims';
import type { KeyHistory } from '../key-history';
import { verifyReceipt } from '../verify-receipt';
import { messageOf } from './json';
import type { TsaAnchors } from './tsa';
import type { WorkItem } from './work';

/** Verifies one receipt of a bundle; never throws (a receipt that cannot be checked is refuted). */
export async function verifyWorkItem(
  item: WorkItem,
  history: KeyHistory,
  anchors: { certs: Uint8Array[]; pinned: boolean },
): Promise<ReceiptReport> {
  try {
    return await verifyReceipt(receiptOf(item), history, {
      tsaTrustAnchors: anchors.certs,
      timestampProvesExistence: anchors.pinned,
      ...(item.previousEntry ? { previousEntry: item.previousEntry } : {}),
      ...(item.existedBy ? { existedBy: item.existedBy } : {}),
      ...(item.bodies ? { bodies: item.bodies } : {}),
      ...(item.proof !== undefined ? { proof: item.proof } : {}),
    });
  } catch (error) {
    return uncheckable(receiptOf(item), error);
  }
}

/** A batch of {@link verifyWorkItem}, in order: what a worker thread does with each job. */
export async function verifyWorkItems(
  items: WorkItem[],
  history: KeyHistory,
  anchors: { certs: Uint8Array[]; pinned: boolean },
): Promise<ReceiptReport[]> {
  const reports: ReceiptReport[] = [];
  for (const item of items) reports.push(await verifyWorkItem(item, history, anchors));
  return reports;
}

const receiptOf = (item: WorkItem) =>
  item.receipt === undefined && item.receiptJson !== undefined
    ? JSON.parse(item.receiptJson)
    : item.receipt;

/** A report for a receipt the verifier could not check (never asserted). */
function uncheckable(receipt: unknown, error: unknown): ReceiptReport {
  const id = (receipt as { id?: unknown } | null)?.id;
  const why = 'the receipt could not be checked';
  return {
    id: typeof id === 'string' ? id : '(no id)',
    claims: {
      signature_valid: refuted(`the verifier could not check it: ${messageOf(error)}`),
      key_valid_at_issuance: unknown(why),
      timestamp_valid: unknown(why),
      chain_linked: unknown(why),
      snapshot_authentic: unknown(why),
    },
  };
}

/** Where a bundle's receipts are verified; `done` gets each report, in the order submitted. */
export interface ReceiptRunner {
  submit(item: WorkItem, done: (report: ReceiptReport) => void): Promise<void>;
  /**
   * Hands back a report known without verifying (a line that is no receipt) in its turn: after
   * those submitted before it, so that reports keep the file's order however they are verified.
   */
  pass(report: ReceiptReport, done: (report: ReceiptReport) => void): void;
  /** Waits for every report, then releases the threads. */
  finish(): Promise<void>;
  /** Stops at once, reports still due dropped (the zip became unreadable, or a cancel). */
  abort(): Promise<void>;
}

/** Receipts from this many on go to worker threads (below, their start-up costs more). */
const PARALLEL_FROM = 2_000;

/**
 * A runner for `total` receipts: worker threads when the platform has them and the bundle is
 * large (or `workers` says so), the main thread reading the zip and verifying batches whenever
 * the workers have enough queued; inline otherwise.
 */
export function receiptRunner(input: {
  total: number;
  workers: number | undefined;
  history: KeyHistory;
  /** The newest snapshot as JSON text (workers load their own key history from it). */
  snapshot: string | undefined;
  publisher: unknown;
  anchors: TsaAnchors;
  /** Whether every report is kept or handed on whole (else only counts and failures count). */
  reportsKept: boolean;
}): ReceiptRunner {
  const anchors = { certs: input.anchors.certs, pinned: !input.anchors.fromBundle };
  const workers = input.workers ?? (input.total >= PARALLEL_FROM ? platform.defaultWorkers() : 0);
  const pool =
    workers >= 1 && input.snapshot
      ? platform.receiptPool(
          {
            snapshot: input.snapshot,
            publisher: input.publisher,
            anchors: anchors.certs,
            anchorsPinned: anchors.pinned,
            refutedReasonsOnly: !input.reportsKept,
          },
          workers,
          (items) => verifyWorkItems(items, input.history, anchors),
        )
      : undefined;
  if (!pool)
    return {
      submit: async (item, done) => done(await verifyWorkItem(item, input.history, anchors)),
      pass: (report, done) => done(report),
      finish: async () => {},
      abort: async () => {},
    };
  const pending: ((report: ReceiptReport) => void)[] = [];
  const deliver = (reports: ReceiptReport[]) => {
    for (const report of reports) (pending.shift() as (report: ReceiptReport) => void)(report);
  };
  return {
    submit: async (item, done) => {
      pending.push(done);
      await pool.add(item, deliver);
    },
    pass: (report, done) => {
      const last = pending.at(-1);
      if (!last) return done(report);
      pending[pending.length - 1] = (before) => {
        last(before);
        done(report);
      };
    },
    finish: async () => {
      try {
        await pool.drain(deliver);
      } finally {
        await pool.close();
      }
    },
    abort: () => pool.close(),
  };
}

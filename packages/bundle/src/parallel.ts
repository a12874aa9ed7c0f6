import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  type ReceiptReport,
  refuted,
  unknown,
  type VerifyReceiptOptions,
} from '@quittance/verifier';

export interface WorkerInit {
  /** The newest snapshot document (JSON text): the key history every receipt is checked against. */
  snapshot: string;
  publisher: unknown;
  anchors: Uint8Array[];
  /** Whether the auditor pinned the TSA roots (else a timestamp proves no time). */
  anchorsPinned: boolean;
}

export interface WorkItem {
  receipt: unknown;
  previousEntry?: VerifyReceiptOptions['previousEntry'];
  existedBy?: VerifyReceiptOptions['existedBy'];
  bodies?: VerifyReceiptOptions['bodies'];
  /** The receipt's inclusion proof (order evidence bundles), as parsed from proofs.jsonl. */
  proof?: unknown;
}

export interface WorkerJob {
  id: number;
  items: WorkItem[];
}

const BATCH = 256;

interface Waiting {
  job: WorkerJob;
  resolve: (reports: ReceiptReport[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Verifies receipts on worker threads, one per core, in batches; results come back in the
 * order the receipts were given. The main thread keeps reading the zip and walking the chain.
 */
export class ReceiptPool {
  readonly #workers: Worker[];
  readonly #idle: Worker[] = [];
  readonly #waiting: Waiting[] = [];
  readonly #running = new Map<
    Worker,
    { resolve: (r: ReceiptReport[]) => void; reject: (e: unknown) => void }
  >();
  readonly #results: Promise<ReceiptReport[]>[] = [];
  #batch: WorkItem[] = [];
  #ids = 0;

  constructor(init: WorkerInit, size = Math.max(1, availableParallelism())) {
    this.#workers = Array.from({ length: size }, () => {
      const worker = new Worker(new URL('./receipt-worker.mjs', import.meta.url), {
        workerData: init,
      });
      worker.on('message', (message: { reports: ReceiptReport[] }) =>
        this.#done(worker, null, message.reports),
      );
      worker.on('error', (error) => this.#done(worker, error, []));
      this.#idle.push(worker);
      return worker;
    });
  }

  /** Queues a receipt; returns when the queue is short enough to take more (back-pressure). */
  async add(item: WorkItem, onReports: (reports: ReceiptReport[]) => void): Promise<void> {
    this.#batch.push(item);
    if (this.#batch.length >= BATCH) this.#flush();
    // Hand finished batches back in order, and keep at most two batches per worker in flight.
    while (this.#results.length > this.#workers.length * 2)
      onReports(await (this.#results.shift() as Promise<ReceiptReport[]>));
  }

  /** Flushes and returns every remaining report, in order. */
  async drain(onReports: (reports: ReceiptReport[]) => void): Promise<void> {
    this.#flush();
    while (this.#results.length)
      onReports(await (this.#results.shift() as Promise<ReceiptReport[]>));
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }

  #flush() {
    if (this.#batch.length === 0) return;
    const job = { id: ++this.#ids, items: this.#batch };
    this.#batch = [];
    this.#results.push(
      new Promise((resolve, reject) => {
        this.#waiting.push({ job, resolve, reject });
        this.#dispatch();
      }),
    );
  }

  #dispatch() {
    while (this.#idle.length && this.#waiting.length) {
      const worker = this.#idle.shift() as Worker;
      const next = this.#waiting.shift() as Waiting;
      this.#running.set(worker, next);
      worker.postMessage(next.job);
    }
  }

  #done(worker: Worker, error: unknown, reports: ReceiptReport[]) {
    const running = this.#running.get(worker);
    this.#running.delete(worker);
    if (running) {
      if (error) running.reject(error);
      else running.resolve(reports);
    }
    this.#idle.push(worker);
    this.#dispatch();
  }
}

/** A report for a receipt the verifier could not check (never asserted). */
export function uncheckable(receipt: unknown, error: unknown): ReceiptReport {
  const id = (receipt as { id?: unknown } | null)?.id;
  const why = 'the receipt could not be checked';
  return {
    id: typeof id === 'string' ? id : '(no id)',
    claims: {
      signature_valid: refuted(
        `the verifier could not check it: ${error instanceof Error ? error.message : String(error)}`,
      ),
      key_valid_at_issuance: unknown(why),
      timestamp_valid: unknown(why),
      chain_linked: unknown(why),
      snapshot_authentic: unknown(why),
    },
  };
}

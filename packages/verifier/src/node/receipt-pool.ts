import { Worker } from 'node:worker_threads';
import type { LocalVerifier, ReceiptPool, WorkerInit, WorkItem } from '../bundle/work';
import type { ReceiptReport } from '../claims';
import { decodeReports } from './report-codec';

export interface WorkerJob {
  id: number;
  items: WorkItem[];
}

/** `scripts/build.mjs` defines it in the compiled build, where no TypeScript loader runs. */
declare const QUITTANCE_BUILD: boolean | undefined;

/**
 * The worker's entry: from the sources, a shim that starts the TypeScript loader first; in the
 * compiled build, `receipt-worker.js` beside the bundle (an entry point of scripts/build.mjs).
 */
const WORKER_ENTRY =
  typeof QUITTANCE_BUILD === 'boolean'
    ? new URL('./receipt-worker.js', import.meta.url)
    : new URL('./receipt-worker.mjs', import.meta.url);

/** Receipts sent to a worker at once. */
const BATCH = 256;

/**
 * Batches posted to a worker ahead of time: it goes on to the next one by itself while the
 * main thread is busy (verifying a batch of its own, reading the zip).
 */
const DEPTH = 2;

interface Thread {
  worker: Worker;
  /** Jobs posted and not answered yet, by id. */
  jobs: Map<number, { resolve: (r: ReceiptReport[]) => void; reject: (e: unknown) => void }>;
}

/**
 * Verifies receipts on worker threads in batches; results come back in the order the receipts
 * were given. The main thread keeps reading the zip and walking the chain, and verifies a batch
 * itself (`local`) when every worker has {@link DEPTH} batches already: it would otherwise wait.
 */
export class NodeReceiptPool implements ReceiptPool {
  readonly #threads: Thread[];
  readonly #results: Promise<ReceiptReport[]>[] = [];
  #batch: WorkItem[] = [];
  #ids = 0;

  constructor(
    init: WorkerInit,
    size: number,
    private readonly local: LocalVerifier,
  ) {
    this.#threads = Array.from({ length: size }, () => {
      const thread: Thread = {
        worker: new Worker(WORKER_ENTRY, { workerData: init }),
        jobs: new Map(),
      };
      thread.worker.on('message', (message: { id: number; reports: string }) => {
        thread.jobs.get(message.id)?.resolve(decodeReports(message.reports));
        thread.jobs.delete(message.id);
      });
      thread.worker.on('error', (error) => {
        for (const job of thread.jobs.values()) job.reject(error);
        thread.jobs.clear();
      });
      return thread;
    });
  }

  async add(item: WorkItem, onReports: (reports: ReceiptReport[]) => void): Promise<void> {
    this.#batch.push(item);
    if (this.#batch.length >= BATCH) this.#flush();
    // Hand finished batches back in order, and keep at most one batch beyond those in flight.
    while (this.#results.length > this.#threads.length * DEPTH + 1)
      onReports(await (this.#results.shift() as Promise<ReceiptReport[]>));
  }

  async drain(onReports: (reports: ReceiptReport[]) => void): Promise<void> {
    this.#flush();
    while (this.#results.length)
      onReports(await (this.#results.shift() as Promise<ReceiptReport[]>));
  }

  async close(): Promise<void> {
    await Promise.all(this.#threads.map((t) => t.worker.terminate()));
  }

  #flush() {
    if (this.#batch.length === 0) return;
    const items = this.#batch;
    this.#batch = [];
    const thread = this.#threads.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
    if (thread.jobs.size >= DEPTH) {
      this.#results.push(this.local(items));
      return;
    }
    // The receipt's text, when there is one, crosses to the worker instead of the object.
    const job: WorkerJob = {
      id: ++this.#ids,
      items: items.map((item) =>
        item.receiptJson !== undefined ? { ...item, receipt: undefined } : item,
      ),
    };
    this.#results.push(
      new Promise((resolve, reject) => {
        thread.jobs.set(job.id, { resolve, reject });
        thread.worker.postMessage(job);
      }),
    );
  }
}

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

interface Waiting {
  job: WorkerJob;
  resolve: (reports: ReceiptReport[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Verifies receipts on worker threads in batches; results come back in the order the receipts
 * were given. The main thread keeps reading the zip and walking the chain, and verifies a batch
 * itself (`local`) whenever every worker already has one queued: it would otherwise wait.
 */
export class NodeReceiptPool implements ReceiptPool {
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

  constructor(
    init: WorkerInit,
    size: number,
    private readonly local?: LocalVerifier,
  ) {
    this.#workers = Array.from({ length: size }, () => {
      const worker = new Worker(WORKER_ENTRY, {
        workerData: init,
      });
      worker.on('message', (message: { reports: string }) =>
        this.#done(worker, null, decodeReports(message.reports)),
      );
      worker.on('error', (error) => this.#done(worker, error, []));
      this.#idle.push(worker);
      return worker;
    });
  }

  async add(item: WorkItem, onReports: (reports: ReceiptReport[]) => void): Promise<void> {
    this.#batch.push(item);
    if (this.#batch.length >= BATCH) this.#flush();
    // Hand finished batches back in order, and keep at most two batches per worker in flight.
    while (this.#results.length > this.#workers.length * 2)
      onReports(await (this.#results.shift() as Promise<ReceiptReport[]>));
  }

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
    const items = this.#batch;
    this.#batch = [];
    if (this.local && this.#idle.length === 0 && this.#waiting.length >= this.#workers.length) {
      this.#results.push(this.local(items));
      return;
    }
    // The receipt's text, when there is one, crosses to the worker instead of the object.
    const job = {
      id: ++this.#ids,
      items: items.map((item) =>
        item.receiptJson !== undefined ? { ...item, receipt: undefined } : item,
      ),
    };
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

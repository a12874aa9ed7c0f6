import {
  type AddOptions,
  backoffMs,
  CLOSE_TIMEOUT_MS,
  DEFAULT_RETRY,
  type JobHandler,
  type JobQueue,
  PermanentJobError,
  type QueueCounts,
  type RetryPolicy,
  settlesWithin,
} from './queue';

interface Job {
  id: string;
  name: string;
  data: unknown;
  attempt: number;
}

/**
 * The queue of `npm start`: jobs run in this process, with bounded concurrency, retries with
 * backoff, and deduplication by job id. Nothing survives a restart, by design: the work is
 * driven from PostgreSQL, and the sweep adds whatever is still to do.
 */
export class InProcessQueue implements JobQueue {
  readonly kind = 'in-process';
  readonly #ready: Job[] = [];
  readonly #known = new Set<string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #running = new Set<Promise<void>>();
  #handlers: Record<string, JobHandler> = {};
  #concurrency = 0;
  #closed = false;
  #failed = 0;
  #delayed = 0;
  #sequence = 0;

  constructor(
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
    private readonly onError: (
      error: unknown,
      job: { name: string; id: string; attempt: number },
    ) => void = () => {},
    private readonly closeTimeoutMs = CLOSE_TIMEOUT_MS,
  ) {}

  async add(name: string, data: unknown, options: AddOptions = {}): Promise<void> {
    if (this.#closed) return;
    const id = options.jobId ?? `${name}:${++this.#sequence}`;
    if (this.#known.has(id)) return;
    this.#known.add(id);
    this.#enqueue({ id, name, data, attempt: 1 }, options.delayMs ?? 0);
  }

  process(handlers: Record<string, JobHandler>, options: { concurrency: number }): void {
    this.#handlers = handlers;
    this.#concurrency = options.concurrency;
    this.#pump();
  }

  async schedule(name: string, everyMs: number, data: unknown = {}): Promise<void> {
    const tick = () => {
      if (this.#closed) return;
      void this.add(name, data, { jobId: `schedule-${name}` });
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        tick();
      }, everyMs);
      timer.unref();
      this.#timers.add(timer);
    };
    tick();
  }

  async counts(): Promise<QueueCounts> {
    return {
      waiting: this.#ready.length,
      active: this.#running.size,
      delayed: this.#delayed,
      failed: this.#failed,
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#ready.length = 0;
    await settlesWithin(Promise.allSettled([...this.#running]), this.closeTimeoutMs);
  }

  #enqueue(job: Job, delayMs: number) {
    if (delayMs <= 0) {
      this.#ready.push(job);
      this.#pump();
      return;
    }
    this.#delayed++;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#delayed--;
      if (this.#closed) return;
      this.#ready.push(job);
      this.#pump();
    }, delayMs);
    timer.unref();
    this.#timers.add(timer);
  }

  #pump() {
    while (!this.#closed && this.#running.size < this.#concurrency && this.#ready.length > 0) {
      const job = this.#ready.shift() as Job;
      const run = this.#run(job).finally(() => {
        this.#running.delete(run);
        this.#pump();
      });
      this.#running.add(run);
    }
  }

  async #run(job: Job): Promise<void> {
    const handler = this.#handlers[job.name];
    try {
      if (!handler) throw new PermanentJobError(`no handler for job ${job.name}`);
      await handler(job.data, { attempt: job.attempt, jobId: job.id });
      this.#known.delete(job.id);
    } catch (error) {
      this.onError(error, job);
      if (
        error instanceof PermanentJobError ||
        job.attempt >= this.retry.attempts ||
        this.#closed
      ) {
        this.#failed++;
        this.#known.delete(job.id);
        return;
      }
      this.#enqueue(
        { ...job, attempt: job.attempt + 1 },
        backoffMs(job.attempt, this.retry.baseDelayMs),
      );
    }
  }
}

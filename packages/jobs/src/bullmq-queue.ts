import { type ConnectionOptions, Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import {
  type AddOptions,
  CLOSE_TIMEOUT_MS,
  DEFAULT_RETRY,
  type JobHandler,
  type JobQueue,
  PermanentJobError,
  type QueueCounts,
  type RetryPolicy,
  settlesWithin,
} from './queue';

export interface BullMqQueueOptions {
  redisUrl: string;
  /** Queue name; tests use `test-${randomUUID()}`. */
  name?: string;
  retry?: RetryPolicy;
  onError?: (error: unknown, job: { name: string; id: string; attempt: number }) => void;
  /** How long `add` may wait for Redis before giving up (the sweep will add it again). */
  addTimeoutMs?: number;
  /** How long `close` waits for running jobs (CLOSE_TIMEOUT_MS by default). */
  closeTimeoutMs?: number;
  /**
   * Told when Redis cannot be reached, at most once per REDIS_ERROR_EVERY_MS: the clients
   * retry for ever, and a process waiting on them must not look hung and silent.
   */
  onRedisError?: (error: Error) => void;
}

/** How often an unreachable Redis is reported through `onRedisError`. */
const REDIS_ERROR_EVERY_MS = 10_000;

/**
 * BullMQ on Redis: any number of workers share the queue, each job runs once at a time,
 * repeating jobs are registered once (job schedulers). Permanent failures become BullMQ's
 * UnrecoverableError, so they are not retried; transient ones back off exponentially.
 */
export class BullMqQueue implements JobQueue {
  readonly kind = 'bullmq';
  readonly name: string;
  readonly #queue: Queue;
  readonly #connection: Redis;
  readonly #retry: RetryPolicy;
  readonly #addTimeoutMs: number;
  #worker: Worker | undefined;
  #workerConnection: Redis | undefined;
  /** This process's running jobs, which close() waits for, boundedly. */
  readonly #running = new Set<Promise<void>>();
  readonly #schedules = new Map<string, { everyMs: number; data: unknown }>();

  #redisErrorAt = Number.NEGATIVE_INFINITY;
  readonly #redisError = (error: Error) => {
    if (Date.now() - this.#redisErrorAt < REDIS_ERROR_EVERY_MS) return;
    this.#redisErrorAt = Date.now();
    this.options.onRedisError?.(error);
  };

  constructor(private readonly options: BullMqQueueOptions) {
    this.name = options.name ?? 'quittance';
    this.#retry = options.retry ?? DEFAULT_RETRY;
    this.#addTimeoutMs = options.addTimeoutMs ?? 5_000;
    // Adding must fail fast while Redis is down instead of queueing commands for ever.
    this.#connection = new Redis(options.redisUrl, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      lazyConnect: false,
    });
    this.#connection.on('error', this.#redisError);
    // Redis without persistence forgets schedulers when it restarts: register them again.
    this.#connection.on('ready', () => {
      for (const [name, { everyMs, data }] of this.#schedules)
        this.#upsert(name, everyMs, data).catch(() => {});
    });
    this.#queue = new Queue(this.name, {
      connection: this.#connection as unknown as ConnectionOptions,
    });
    this.#queue.on('error', () => {});
  }

  async add(name: string, data: unknown, options: AddOptions = {}): Promise<void> {
    const adding = this.#queue.add(name, data, {
      ...(options.jobId ? { jobId: options.jobId } : {}),
      ...(options.delayMs ? { delay: options.delayMs } : {}),
      attempts: this.#retry.attempts,
      backoff: { type: 'exponential', delay: this.#retry.baseDelayMs, jitter: 0.5 },
      removeOnComplete: true,
      // A failed job must not keep its id: the sweep re-adds the work under the same id later.
      removeOnFail: true,
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not take job ${name} in ${this.#addTimeoutMs} ms`)),
        this.#addTimeoutMs,
      );
    });
    try {
      await Promise.race([adding, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  process(handlers: Record<string, JobHandler>, options: { concurrency: number }): void {
    // Workers block on Redis and must retry for ever (BullMQ requires maxRetriesPerRequest null).
    const connection = new Redis(this.options.redisUrl, { maxRetriesPerRequest: null });
    connection.on('error', this.#redisError);
    this.#workerConnection = connection;
    this.#worker = new Worker(
      this.name,
      async (job) => {
        const handler = handlers[job.name];
        if (!handler) throw new UnrecoverableError(`no handler for job ${job.name}`);
        const run = handler(job.data, { attempt: job.attemptsMade + 1, jobId: job.id ?? '' });
        this.#running.add(run);
        try {
          await run;
        } catch (error) {
          this.options.onError?.(error, {
            name: job.name,
            id: job.id ?? '',
            attempt: job.attemptsMade + 1,
          });
          if (error instanceof PermanentJobError) throw new UnrecoverableError(error.message);
          throw error;
        } finally {
          this.#running.delete(run);
        }
      },
      {
        connection: connection as unknown as ConnectionOptions,
        concurrency: options.concurrency,
        autorun: true,
      },
    );
    this.#worker.on('error', () => {});
  }

  async schedule(name: string, everyMs: number, data: unknown = {}): Promise<void> {
    this.#schedules.set(name, { everyMs, data });
    await this.#upsert(name, everyMs, data);
  }

  #upsert(name: string, everyMs: number, data: unknown) {
    return this.#queue.upsertJobScheduler(
      `schedule-${name}`,
      { every: everyMs },
      { name, data, opts: { removeOnComplete: true, removeOnFail: true } },
    );
  }

  async counts(): Promise<QueueCounts> {
    const c = await this.#queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
    return {
      waiting: c.waiting ?? 0,
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      failed: c.failed ?? 0,
    };
  }

  async close(): Promise<void> {
    const timeoutMs = this.options.closeTimeoutMs ?? CLOSE_TIMEOUT_MS;
    if (this.#worker) {
      // BullMQ's own close waits for running jobs without a bound, and cannot be forced once
      // begun: take no new jobs, wait a while here, then close, forced when jobs still run.
      // A job left running loses its lock and is run again, here or elsewhere, as stalled.
      await this.#worker.pause(true);
      const finished = await settlesWithin(Promise.allSettled([...this.#running]), timeoutMs);
      // Unforced, it waits for the finished jobs' results to be stored: bounded too, as Redis
      // may be gone (disconnecting below then ends what it waits for).
      await settlesWithin(this.#worker.close(!finished), timeoutMs);
    }
    await settlesWithin(this.#queue.close(), timeoutMs);
    // BullMQ leaves connections it was given open: close them, or the process cannot exit.
    this.#workerConnection?.disconnect();
    this.#connection.disconnect();
  }
}

/** Context a handler gets: which attempt this is (1-based). */
export interface JobContext {
  attempt: number;
  jobId: string;
}

export type JobHandler = (data: unknown, context: JobContext) => Promise<void>;

export interface AddOptions {
  /** Deduplicates: a job whose id is waiting, delayed or running is not added again. */
  jobId?: string;
  delayMs?: number;
}

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

/**
 * The one queue interface: BullMQ on Redis, or in-process. Handlers and the code that adds
 * jobs never know which. Durable state lives in PostgreSQL; the queue only carries work.
 */
export interface JobQueue {
  readonly kind: 'bullmq' | 'in-process';
  add(name: string, data: unknown, options?: AddOptions): Promise<void>;
  /** Starts processing with these handlers (one call per process). */
  process(handlers: Record<string, JobHandler>, options: { concurrency: number }): void;
  /** A repeating job, registered once however many processes ask. */
  schedule(name: string, everyMs: number, data?: unknown): Promise<void>;
  counts(): Promise<QueueCounts>;
  /**
   * Stops taking jobs and waits for running ones, at most the queue's close timeout: a job
   * still running then is left (and done again, by the sweep or as a stalled BullMQ job)
   * rather than holding the process open for ever.
   */
  close(): Promise<void>;
}

/** A failure that retrying cannot fix (bad data, a signature that does not verify). */
export class PermanentJobError extends Error {
  override readonly name = 'PermanentJobError';
}

export interface RetryPolicy {
  attempts: number;
  /** First retry delay; each next one doubles, with ±50 % jitter. */
  baseDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 1_000 };

/** How long close() waits for running jobs by default. */
export const CLOSE_TIMEOUT_MS = 10_000;

/** Whether `work` settles (either way) within `ms`. */
export async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Exponential backoff with jitter, so that retries of many jobs do not arrive together. */
export function backoffMs(
  attempt: number,
  baseDelayMs: number,
  maxMs = Number.POSITIVE_INFINITY,
): number {
  const exponential = Math.min(maxMs, baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential * (0.5 + Math.random()));
}

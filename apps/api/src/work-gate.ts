import { ServiceError } from './service-error';

/**
 * At most `slots` pieces of heavy work at once in this process (order evidence, built in
 * memory), so requests that loop on them cannot starve issuance; a few more wait for a slot,
 * each until its request's deadline. Beyond that, or past the deadline, 503 with Retry-After.
 *
 * Turns are fair between tenants (merchants): a freed slot goes to the waiting tenant served
 * least recently, and each tenant may have at most `maxWaiting` waiting. With one line for
 * all, one merchant asking for six bundles at once made another merchant's evidence answer
 * 503 (an outside review).
 */
export class WorkGate {
  #busy = 0;
  /** Waiters by tenant. */
  readonly #waiting = new Map<string, (() => void)[]>();
  /** When each tenant last got a slot (a count of grants), for the next turn. */
  readonly #lastServed = new Map<string, number>();
  #grants = 0;

  constructor(
    readonly slots: number,
    readonly maxWaiting: number,
    /** What the work is, for the refusal: "order evidence bundles". */
    private readonly what: string,
  ) {}

  /** Work not yet started, by what it computes: a request asking for the same joins it. */
  readonly #queued = new Map<string, Promise<unknown>>();
  /** Refusals because the asker's own deadline passed. */
  readonly #outOfTime = new WeakSet<object>();

  /**
   * As {@link run}, for work that computes what `key` names from what is committed when it
   * starts: a request for the same key while one waits for its turn shares that one's answer.
   * Work already running is never joined, as it may have read before the joiner's own writes
   * committed (a merchant that issues a receipt, then lists its order, must see it).
   */
  runShared<T>(
    key: string,
    work: () => Promise<T>,
    deadline?: AbortSignal,
    tenant = '',
  ): Promise<T> {
    const queued = this.#queued.get(key);
    // The one joined gives up when its own deadline passes: a joiner with time left waits on.
    if (queued)
      return (queued as Promise<T>).catch((error: unknown) => {
        if (!this.#outOfTime.has(error as object) || deadline?.aborted) throw error;
        return this.runShared(key, work, deadline, tenant);
      });
    let waiting = true;
    const started = () => {
      if (!waiting) return;
      waiting = false;
      if (this.#queued.get(key) === shared) this.#queued.delete(key);
    };
    const shared = this.run(
      () => {
        started();
        return work();
      },
      deadline,
      tenant,
    );
    shared.then(started, started);
    if (waiting) this.#queued.set(key, shared);
    return shared;
  }

  async run<T>(work: () => Promise<T>, deadline?: AbortSignal, tenant = ''): Promise<T> {
    await this.#acquire(deadline, tenant);
    try {
      return await work();
    } finally {
      // The slot passes to the next waiter, or is freed.
      const next = this.#next();
      if (next) next();
      else this.#busy--;
    }
  }

  async #acquire(deadline: AbortSignal | undefined, tenant: string): Promise<void> {
    if (deadline?.aborted) throw this.#lateRefusal();
    if (this.#busy < this.slots) {
      this.#busy++;
      this.#served(tenant);
      return;
    }
    const line = this.#waiting.get(tenant) ?? [];
    if (line.length >= this.maxWaiting) throw this.#refusal();
    this.#waiting.set(tenant, line);
    await new Promise<void>((resolve, reject) => {
      const granted = () => {
        deadline?.removeEventListener('abort', gaveUp);
        resolve();
      };
      const gaveUp = () => {
        const at = line.indexOf(granted);
        if (at >= 0) line.splice(at, 1);
        if (line.length === 0 && this.#waiting.get(tenant) === line) this.#waiting.delete(tenant);
        reject(this.#lateRefusal());
      };
      line.push(granted);
      deadline?.addEventListener('abort', gaveUp, { once: true });
    });
  }

  /** The first waiter of the waiting tenant served least recently (never: first). */
  #next(): (() => void) | undefined {
    let chosen: string | undefined;
    let oldest = Number.POSITIVE_INFINITY;
    for (const tenant of this.#waiting.keys()) {
      const last = this.#lastServed.get(tenant) ?? -1;
      if (last < oldest) {
        oldest = last;
        chosen = tenant;
      }
    }
    if (chosen === undefined) return undefined;
    const line = this.#waiting.get(chosen) as (() => void)[];
    const next = line.shift();
    if (line.length === 0) this.#waiting.delete(chosen);
    this.#served(chosen);
    return next;
  }

  #served(tenant: string): void {
    // Re-inserted, so the map stays in serving order and old tenants can be dropped from the front.
    this.#lastServed.delete(tenant);
    this.#lastServed.set(tenant, ++this.#grants);
    if (this.#lastServed.size > MAX_REMEMBERED) {
      const [oldest] = this.#lastServed.keys();
      if (oldest !== undefined) this.#lastServed.delete(oldest);
    }
  }

  #lateRefusal(): ServiceError {
    const refusal = this.#refusal();
    this.#outOfTime.add(refusal);
    return refusal;
  }

  #refusal(): ServiceError {
    return new ServiceError(
      'service_unavailable',
      `${this.what} are busy in this process (all turns taken, or none free in time); retry`,
      { retryAfterSeconds: 1 },
    );
  }
}

/** Tenants whose last turn is remembered; one forgotten counts as never served (first). */
const MAX_REMEMBERED = 10_000;

import { ServiceError } from './service-error';

/**
 * At most `slots` pieces of heavy work at once in this process (order evidence, built in
 * memory), so requests that loop on them cannot starve issuance; a few more wait for a slot,
 * each until its request's deadline. Beyond that, or past the deadline, 503 with Retry-After.
 */
export class WorkGate {
  #busy = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(
    readonly slots: number,
    readonly maxWaiting: number,
    /** What the work is, for the refusal: "order evidence bundles". */
    private readonly what: string,
  ) {}

  async run<T>(work: () => Promise<T>, deadline?: AbortSignal): Promise<T> {
    await this.#acquire(deadline);
    try {
      return await work();
    } finally {
      // The slot passes to the next waiter, or is freed.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#busy--;
    }
  }

  async #acquire(deadline: AbortSignal | undefined): Promise<void> {
    if (deadline?.aborted) throw this.#refusal();
    if (this.#busy < this.slots) {
      this.#busy++;
      return;
    }
    if (this.#waiting.length >= this.maxWaiting) throw this.#refusal();
    await new Promise<void>((resolve, reject) => {
      const granted = () => {
        deadline?.removeEventListener('abort', gaveUp);
        resolve();
      };
      const gaveUp = () => {
        const at = this.#waiting.indexOf(granted);
        if (at >= 0) this.#waiting.splice(at, 1);
        reject(this.#refusal());
      };
      this.#waiting.push(granted);
      deadline?.addEventListener('abort', gaveUp, { once: true });
    });
  }

  #refusal(): ServiceError {
    return new ServiceError(
      'service_unavailable',
      `${this.what} are busy in this process (all turns taken, or none free in time); retry`,
      { retryAfterSeconds: 1 },
    );
  }
}

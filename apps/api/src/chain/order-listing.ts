import type { Principal } from '../auth/api-keys';
import { WorkGate } from '../work-gate';
import { orderVersionOf, type ReceiptQueries, sightOf } from './queries';
import { receiptJson } from './record';

/**
 * GET /receipts/by-order: an order's receipts as JSON, read and written out a few at a time
 * in this process, in turns fair between merchants. An order may hold 10,000 receipts
 * (megabytes of JSON): 32 clients looping on a 1,900-receipt order held every other
 * merchant's requests for seconds (an outside retest). Requests for the same order, seen the
 * same way, while one waits for its turn share its answer. Large answers are kept, and given
 * again while the order's version (ReceiptQueries.orderVersion, one small query) is the same:
 * the embedded database reads such an order in about 80 ms on the service's own thread.
 */
export class OrderListing {
  readonly #gate: WorkGate;
  /** Large answers by what they answer, oldest use first, with the version they are of. */
  readonly #kept = new Map<string, { version: string; bytes: Uint8Array<ArrayBuffer> }>();
  #keptBytes = 0;

  constructor(
    private readonly receipts: ReceiptQueries,
    /** Listings read at once; a few more per merchant wait for a turn. */
    concurrent = 2,
  ) {
    this.#gate = new WorkGate(concurrent, 16 * concurrent, 'order listings');
  }

  /** The answer's bytes (UTF-8 JSON), encoded once for every request that shares them. */
  json(
    principal: Principal,
    orderId: string,
    deadline?: AbortSignal,
  ): Promise<Uint8Array<ArrayBuffer>> {
    const key = JSON.stringify([sightOf(principal), orderId]);
    return this.#gate.runShared(
      key,
      () => this.#answer(key, principal, orderId),
      deadline,
      principal.merchantId,
    );
  }

  async #answer(key: string, principal: Principal, orderId: string) {
    const kept = this.#kept.get(key);
    if (kept && kept.version === (await this.receipts.orderVersion(principal, orderId))) {
      this.#keep(key, kept.version, kept.bytes);
      return kept.bytes;
    }
    const rows = await this.receipts.orderRecords(principal, orderId);
    // receiptJson: the issue path's text of a receipt, without parsing `signed` again.
    const bytes = UTF8.encode(
      `{"orderId":${JSON.stringify(orderId)},"receipts":[${rows.map(receiptJson).join(',')}]}`,
    );
    if (rows.length >= KEEP_FROM_RECEIPTS) this.#keep(key, orderVersionOf(rows), bytes);
    return bytes;
  }

  /** Keeps an answer as the most recently used, dropping the least recently used past the cap. */
  #keep(key: string, version: string, bytes: Uint8Array<ArrayBuffer>): void {
    const old = this.#kept.get(key);
    if (old) this.#keptBytes -= old.bytes.length;
    this.#kept.delete(key);
    this.#kept.set(key, { version, bytes });
    this.#keptBytes += bytes.length;
    for (const [oldest, entry] of this.#kept) {
      if (this.#keptBytes <= MAX_KEPT_BYTES) break;
      this.#kept.delete(oldest);
      this.#keptBytes -= entry.bytes.length;
    }
  }
}

/** Orders smaller than this are read again each time (cheap), larger ones kept. */
const KEEP_FROM_RECEIPTS = 200;
/** Kept answers in all, at most (an order of 10,000 receipts is about 9 MB). */
const MAX_KEPT_BYTES = 64 * 1024 * 1024;
const UTF8 = new TextEncoder();

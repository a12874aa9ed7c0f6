import type { Principal } from '../auth/api-keys';
import { WorkGate } from '../work-gate';
import { type ReceiptQueries, sightOf } from './queries';

/**
 * GET /receipts/by-order: an order's receipts as JSON, read and written out a few at a
 * time in this process, in turns fair between merchants. An order may hold 10,000 receipts
 * (megabytes of JSON): 32 clients looping on a 1,900-receipt order held every other
 * merchant's requests for seconds (an outside retest). Requests for the same order, seen the
 * same way, while one waits for its turn share its answer.
 */
export class OrderListing {
  readonly #gate: WorkGate;

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
    return this.#gate.runShared(
      JSON.stringify([sightOf(principal), orderId]),
      async () =>
        UTF8.encode(
          JSON.stringify({ orderId, receipts: await this.receipts.byOrder(principal, orderId) }),
        ),
      deadline,
      principal.merchantId,
    );
  }
}

const UTF8 = new TextEncoder();

import {
  chainHeads,
  type Db,
  pendingTimestamps,
  receiptBodies,
  receipts,
  type Tx,
} from '@quittance/db';
import { entryHash } from '@quittance/format';
import { and, eq, inArray } from 'drizzle-orm';
import { isValidAt, KeyRing } from '../keys/key-ring';
import type { ReceiptRecord } from './record';

/** A signed receipt waiting for its place in the merchant's chain. */
export interface AppendItem {
  record: Omit<ReceiptRecord, 'seq' | 'prevHash' | 'entryHash' | 'legalPosture' | 'timestamp'>;
  bodies: {
    kind: 'input' | 'output';
    vaultKeyId: string;
    iv: Uint8Array;
    ciphertext: Uint8Array;
  }[];
}

export type AppendOutcome =
  | { kind: 'created'; record: ReceiptRecord }
  | { kind: 'replay'; record: ReceiptRecord }
  | { kind: 'conflict'; existingId: string }
  /** The key signed at a time it was not valid (rotated or revoked meanwhile): sign again. */
  | { kind: 'key_invalid' };

interface Waiting {
  item: AppendItem;
  resolve: (outcome: AppendOutcome) => void;
  reject: (error: unknown) => void;
}

/** Appends per transaction: large enough to amortize a commit, small enough for parameters. */
const MAX_BATCH = 256;

export interface AppendStats {
  batches: number;
  appended: number;
  /** Called with each committed batch's size (metrics). */
  onBatch?: (size: number) => void;
}

/**
 * Appends receipts to their merchant's hash chain (SPEC §6). Requests that arrive while a
 * merchant's append is in flight wait and go together in the next transaction, so one
 * merchant's throughput is bounded by batch commits, not by one commit per receipt. The
 * chain-head row lock (`FOR UPDATE`) keeps the chain linear across processes.
 */
export class ChainAppender {
  readonly #queues = new Map<string, Waiting[]>();
  readonly stats: AppendStats = { batches: 0, appended: 0 };

  constructor(private readonly db: Db) {}

  append(item: AppendItem): Promise<AppendOutcome> {
    return new Promise((resolve, reject) => {
      const merchantId = item.record.merchantId;
      const queue = this.#queues.get(merchantId);
      if (queue) {
        queue.push({ item, resolve, reject });
        return;
      }
      this.#queues.set(merchantId, [{ item, resolve, reject }]);
      void this.#drain(merchantId);
    });
  }

  async #drain(merchantId: string): Promise<void> {
    const queue = this.#queues.get(merchantId) as Waiting[];
    while (queue.length > 0) {
      const batch = queue.splice(0, MAX_BATCH);
      try {
        const outcomes = await this.db.transaction((tx) =>
          this.#appendBatch(
            tx,
            merchantId,
            batch.map((w) => w.item),
          ),
        );
        this.stats.batches++;
        this.stats.onBatch?.(batch.length);
        for (const [i, w] of batch.entries()) w.resolve(outcomes[i] as AppendOutcome);
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
    this.#queues.delete(merchantId);
  }

  async #appendBatch(tx: Tx, merchantId: string, items: AppendItem[]): Promise<AppendOutcome[]> {
    const [head] = await tx
      .select({ seq: chainHeads.seq, entryHash: chainHeads.entryHash })
      .from(chainHeads)
      .where(eq(chainHeads.merchantId, merchantId))
      .for('update');
    if (!head) throw new Error(`merchant ${merchantId} has no chain head`);
    const callIds = [...new Set(items.map((i) => i.record.callId))];
    const existing = new Map(
      (
        await tx
          .select()
          .from(receipts)
          .where(and(eq(receipts.merchantId, merchantId), inArray(receipts.callId, callIds)))
      ).map((r) => [r.callId, r]),
    );
    const windows = await KeyRing.windows(
      tx,
      items.map((i) => i.record.signingKeyKid),
    );

    // Chain order follows issuance time inside a batch; the outcome keeps request order.
    const order = items
      .map((_, i) => i)
      .sort((a, b) => {
        const d =
          (items[a] as AppendItem).record.createdAt.getTime() -
          (items[b] as AppendItem).record.createdAt.getTime();
        return d !== 0 ? d : a - b;
      });
    const outcomes: AppendOutcome[] = new Array(items.length);
    const created: ReceiptRecord[] = [];
    let seq = head.seq;
    let prevHash = head.entryHash;
    for (const index of order) {
      const { record } = items[index] as AppendItem;
      const first = existing.get(record.callId);
      if (first) {
        outcomes[index] =
          first.contentHash === record.contentHash
            ? { kind: 'replay', record: first }
            : { kind: 'conflict', existingId: first.id };
        continue;
      }
      const window = windows.get(record.signingKeyKid);
      if (!window || window.merchantId !== merchantId || !isValidAt(window, record.createdAt)) {
        outcomes[index] = { kind: 'key_invalid' };
        continue;
      }
      seq += 1;
      const hash = await entryHash({
        seq,
        prevHash,
        receiptId: record.id,
        receiptHash: record.receiptHash,
      });
      const full: ReceiptRecord = {
        ...record,
        seq,
        prevHash,
        entryHash: hash,
        legalPosture: 'signed',
        timestamp: null,
      };
      created.push(full);
      existing.set(record.callId, full);
      outcomes[index] = { kind: 'created', record: full };
      prevHash = hash;
    }
    if (created.length === 0) return outcomes;

    await tx.insert(receipts).values(created);
    const bodies = order.flatMap((index) =>
      outcomes[index]?.kind === 'created'
        ? (items[index] as AppendItem).bodies.map((b) => ({
            receiptId: (items[index] as AppendItem).record.id,
            ...b,
          }))
        : [],
    );
    if (bodies.length > 0) await tx.insert(receiptBodies).values(bodies);
    await tx
      .insert(pendingTimestamps)
      .values(created.map((r) => ({ receiptId: r.id, merchantId, nextAttemptAt: r.createdAt })));
    await tx
      .update(chainHeads)
      .set({ seq, entryHash: prevHash })
      .where(eq(chainHeads.merchantId, merchantId));
    this.stats.appended += created.length;
    return outcomes;
  }
}

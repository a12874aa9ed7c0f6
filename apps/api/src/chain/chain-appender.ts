import { chainHeads, type Database } from '@quittance/db';
import { concatBytes, toBase64 } from '@quittance/format';
import { eq } from 'drizzle-orm';
import { entriesThrough, frontierAt } from '../transparency/frontier';
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

/** Appends per statement: large enough to amortize a commit, small enough to stay short. */
const MAX_BATCH = 256;

export interface AppendStats {
  batches: number;
  appended: number;
  /** Wall time spent in append statements, in milliseconds. */
  transactionMs: number;
  /** Called with each committed batch's size (metrics). */
  onBatch?: (size: number) => void;
}

/**
 * Appends receipts to their merchants' hash chains (SPEC §6). Requests that arrive while
 * appends are in flight wait and go together in the next statement, whatever their merchant,
 * so throughput is bounded by batch commits, not by one commit per receipt or per merchant.
 * Each batch is one statement (`quittance_append`, migrations 0007 and 0008): it takes the chain-head
 * row locks, checks callIds and key windows, links the entries, grows each merchant's tree
 * frontier and inserts everything server-side. The locks keep every chain linear across
 * processes and across this process's own batches in flight, and are never held while the
 * server waits on a client.
 */
export class ChainAppender {
  readonly #waiting: Waiting[] = [];
  #inFlight = 0;
  readonly stats: AppendStats = { batches: 0, appended: 0, transactionMs: 0 };

  constructor(
    private readonly database: Database,
    /**
     * Statements in flight at once (QUITTANCE_APPEND_IN_FLIGHT). More than one lets a batch
     * be sent while another commits, but halves the batches, and each statement costs
     * PostgreSQL a transaction, a commit and a wait on the chain-head lock. Interleaved A/Bs
     * of 1 against 2, in both orders (bench:issue's load, after migration 0008): one
     * process, PostgreSQL CPU per receipt 141 → 111 µs, mean batch 15 → 30, receipts/s
     * about 5 % more; two processes on one merchant, 207 → 152 µs, receipts/s 8–16 % more.
     */
    private readonly maxInFlight = 1,
  ) {}

  append(item: AppendItem): Promise<AppendOutcome> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.maxInFlight && this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0, MAX_BATCH);
      this.#inFlight++;
      void this.#run(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #run(batch: Waiting[]): Promise<void> {
    const started = performance.now();
    try {
      const outcomes = await this.#appendBatch(batch.map((w) => w.item));
      this.stats.batches++;
      this.stats.transactionMs += performance.now() - started;
      this.stats.onBatch?.(batch.length);
      for (const [i, w] of batch.entries()) w.resolve(outcomes[i] as AppendOutcome);
    } catch (error) {
      for (const w of batch) w.reject(error);
    }
  }

  /** Outcomes in the items' order; a merchant whose frontier is unusable is mended first. */
  async #appendBatch(items: AppendItem[], mended = false): Promise<AppendOutcome[]> {
    // Grouped by merchant; chain order follows issuance time inside a batch.
    const order = items
      .map((_, i) => i)
      .sort((a, b) => {
        const x = (items[a] as AppendItem).record;
        const y = (items[b] as AppendItem).record;
        if (x.merchantId !== y.merchantId) return x.merchantId < y.merchantId ? -1 : 1;
        const d = x.createdAt.getTime() - y.createdAt.getTime();
        return d !== 0 ? d : a - b;
      });
    const rows = await this.database.rawQuery<AppendRow>(
      APPEND,
      appendParams(order.map((i) => items[i] as AppendItem)),
    );
    const outcomes: AppendOutcome[] = new Array(items.length);
    const replayed = rows.filter((r) => r.outcome === 'replay').map((r) => r.existing_id);
    const earlier = new Map(
      replayed.length === 0
        ? []
        : (
            await this.database.rawQuery<RawRecord>(
              `select ${RECORD_COLUMNS} from receipts where id = any($1::text[])`,
              [replayed],
            )
          ).map((r) => [r.id, fromRawRecord(r)]),
    );
    const unmended: number[] = [];
    for (const row of rows) {
      const index = order[row.item - 1] as number;
      const { record } = items[index] as AppendItem;
      if (row.outcome === 'created') {
        this.stats.appended++;
        outcomes[index] = {
          kind: 'created',
          record: {
            ...record,
            seq: Number(row.chain_seq),
            prevHash: row.chain_prev as string,
            entryHash: row.chain_entry as string,
            legalPosture: 'signed',
            timestamp: null,
          },
        };
      } else if (row.outcome === 'replay') {
        const first = earlier.get(row.existing_id as string);
        if (!first) throw new Error(`receipt ${row.existing_id} vanished during a replay`);
        outcomes[index] = { kind: 'replay', record: first };
      } else if (row.outcome === 'conflict') {
        outcomes[index] = { kind: 'conflict', existingId: row.existing_id as string };
      } else if (row.outcome === 'key_invalid') {
        outcomes[index] = { kind: 'key_invalid' };
      } else {
        unmended.push(index);
      }
    }
    if (unmended.length > 0) {
      const merchants = [
        ...new Set(unmended.map((i) => (items[i] as AppendItem).record.merchantId)),
      ];
      if (mended) throw new Error(`chain heads without a usable frontier: ${merchants.join(', ')}`);
      for (const merchantId of merchants) await this.#rebuildFrontier(merchantId);
      const again = await this.#appendBatch(
        unmended.map((i) => items[i] as AppendItem),
        true,
      );
      for (const [k, i] of unmended.entries()) outcomes[i] = again[k] as AppendOutcome;
    }
    return outcomes;
  }

  /**
   * A chain written before the frontier was kept: its frontier, rebuilt once under the lock,
   * as the checkpoint signer rebuilds one (frontier.ts).
   */
  async #rebuildFrontier(merchantId: string): Promise<void> {
    await this.database.db.transaction(async (tx) => {
      const [head] = await tx
        .select({ seq: chainHeads.seq, frontier: chainHeads.frontier })
        .from(chainHeads)
        .where(eq(chainHeads.merchantId, merchantId))
        .for('update');
      if (!head) throw new Error(`merchant ${merchantId} has no chain head`);
      const frontier = await frontierAt(
        head.seq,
        head.frontier,
        entriesThrough(tx, merchantId, head.seq),
      );
      await tx.update(chainHeads).set({ frontier }).where(eq(chainHeads.merchantId, merchantId));
    });
  }
}

/** One row of `quittance_append`'s answer per item, numbered from 1 in the order sent. */
interface AppendRow {
  item: number;
  outcome: 'created' | 'replay' | 'conflict' | 'key_invalid' | 'fallback';
  chain_seq: string | number | null;
  chain_prev: string | null;
  chain_entry: string | null;
  existing_id: string | null;
}

const APPEND = `select item, outcome, chain_seq, chain_prev, chain_entry, existing_id
  from quittance_append($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
    $14::int4[], $15::text[], $16::text[], $17::text[], $18::text, $19::int4[], $20::int4[],
    $21::int4[])`;

/**
 * The function's parameters: one array per column, the items in the order to append. The
 * sealed bodies travel as one base64 text (each body's IV and ciphertext, one body after the
 * other) with each body's offset and lengths: PostgreSQL decodes one text instead of parsing
 * two arrays of long strings (migration 0008).
 */
function appendParams(items: AppendItem[]): unknown[] {
  const bodies = bodiesOf(items);
  const offsets: number[] = [];
  let offset = 0;
  for (const b of bodies) {
    offsets.push(offset);
    offset += b.iv.byteLength + b.ciphertext.byteLength;
  }
  return [
    ...sharedColumns(items, bodies),
    toBase64(concatBytes(bodies.flatMap((b) => [b.iv, b.ciphertext]))),
    offsets,
    bodies.map((b) => b.iv.byteLength),
    bodies.map((b) => b.ciphertext.byteLength),
  ];
}

type BatchBody = AppendItem['bodies'][number] & { receiptId: string };

/** Every item's bodies, each with its receipt's id, in the items' order. */
export function bodiesOf(items: AppendItem[]): BatchBody[] {
  return items.flatMap((i) => i.bodies.map((b) => ({ receiptId: i.record.id, ...b })));
}

/**
 * The parameters migrations 0007 and 0008 take alike (1 to 17): the records' columns, then
 * the bodies' receipt ids, kinds and vault keys.
 */
export function sharedColumns(items: AppendItem[], bodies: BatchBody[]): unknown[] {
  const column = <T>(pick: (r: AppendItem['record']) => T) => items.map((i) => pick(i.record));
  return [
    column((r) => r.merchantId),
    column((r) => r.id),
    column((r) => r.callId),
    column((r) => r.agentId),
    column((r) => r.orderId),
    column((r) => r.bucket),
    column((r) => r.tool),
    column((r) => r.createdAt.toISOString()),
    column((r) => r.signingKeyKid),
    column((r) => r.signed),
    column((r) => r.jws),
    column((r) => r.receiptHash),
    column((r) => r.contentHash),
    column((r) => r.hasBodies),
    bodies.map((b) => b.receiptId),
    bodies.map((b) => b.kind),
    bodies.map((b) => b.vaultKeyId),
  ];
}

/**
 * Times and JSON leave the database as text, parsed here: the driver's own type parsing is
 * configured by the ORM and differs between postgres.js and PGlite.
 */
const iso = (column: string) =>
  `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

type RawRecord = Omit<ReceiptRecord, 'seq' | 'createdAt' | 'timestamp'> & {
  seq: string | number;
  createdAt: string;
  timestamp: string | null;
};

function fromRawRecord(r: RawRecord): ReceiptRecord {
  return {
    ...r,
    seq: Number(r.seq),
    createdAt: new Date(r.createdAt),
    timestamp: r.timestamp === null ? null : JSON.parse(r.timestamp),
  };
}

/** Receipt columns under the names of {@link ReceiptRecord}. */
const RECORD_COLUMNS = `id, merchant_id as "merchantId", seq, call_id as "callId", agent_id as "agentId",
  order_id as "orderId", bucket, tool, ${iso('created_at')} as "createdAt", signing_key_kid as "signingKeyKid",
  signed, jws, legal_posture as "legalPosture", timestamp::text as timestamp, receipt_hash as "receiptHash",
  prev_hash as "prevHash", entry_hash as "entryHash", content_hash as "contentHash", has_bodies as "hasBodies"`;

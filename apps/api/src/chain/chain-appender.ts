import type { Database, RawQuery } from '@quittance/db';
import { appendToFrontier, entryHash, toBase64 } from '@quittance/format';
import { isValidAt, type KeyWindow } from '../keys/key-ring';
import { FRONTIER_JSON, frontierAt } from '../transparency/frontier';
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
  /** Wall time spent in append transactions, in milliseconds. */
  transactionMs: number;
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
  readonly stats: AppendStats = { batches: 0, appended: 0, transactionMs: 0 };

  constructor(private readonly database: Database) {}

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
      const started = performance.now();
      try {
        const outcomes = await this.database.rawTransaction((query) =>
          this.#appendBatch(
            query,
            merchantId,
            batch.map((w) => w.item),
          ),
        );
        this.stats.batches++;
        this.stats.transactionMs += performance.now() - started;
        this.stats.onBatch?.(batch.length);
        for (const [i, w] of batch.entries()) w.resolve(outcomes[i] as AppendOutcome);
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
    this.#queues.delete(merchantId);
  }

  async #appendBatch(
    query: RawQuery,
    merchantId: string,
    items: AppendItem[],
  ): Promise<AppendOutcome[]> {
    const callIds = [...new Set(items.map((i) => i.record.callId))];
    const kids = [...new Set(items.map((i) => i.record.signingKeyKid))];
    // Pipelined: the head lock, earlier receipts with these callIds, and key validity.
    const [heads, existingRows, keyRows] = await Promise.all([
      query<{ seq: string | number; entry_hash: string; frontier: string }>(
        `select seq, entry_hash, ${FRONTIER_JSON} from chain_heads where merchant_id = $1 for update`,
        [merchantId],
      ),
      query<RawRecord>(
        `select ${RECORD_COLUMNS} from receipts where merchant_id = $1 and call_id = any($2::text[])`,
        [merchantId, callIds],
      ),
      query<RawWindow>(
        `select kid, merchant_id as "merchantId", ${iso('nbf')} as nbf, ${iso('exp')} as exp,
           ${iso('revoked_at')} as "revokedAt" from signing_keys where kid = any($1::text[])`,
        [kids],
      ),
    ]);
    const head = heads[0];
    if (!head) throw new Error(`merchant ${merchantId} has no chain head`);
    const existing = new Map(existingRows.map((r) => [r.callId, fromRawRecord(r)]));
    const windows = new Map(keyRows.map((k) => [k.kid, fromRawWindow(k)]));

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
    const created: { record: ReceiptRecord; bodies: AppendItem['bodies'] }[] = [];
    let seq = Number(head.seq);
    let prevHash = head.entry_hash;
    for (const index of order) {
      const { record, bodies } = items[index] as AppendItem;
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
      created.push({ record: full, bodies });
      existing.set(record.callId, full);
      outcomes[index] = { kind: 'created', record: full };
      prevHash = hash;
    }
    if (created.length > 0) {
      // The log tree grows with the chain, in the same transaction (SPEC §6.1).
      const size = Number(head.seq);
      const frontier = await appendToFrontier(
        await frontierAt(size, JSON.parse(head.frontier), async () =>
          (
            await query<{ entry_hash: string }>(
              'select entry_hash from receipts where merchant_id = $1 and seq <= $2 order by seq',
              [merchantId, size],
            )
          ).map((r) => r.entry_hash),
        ),
        size,
        created.map((c) => c.record.entryHash),
      );
      await query(INSERT_BATCH, [...insertParams(merchantId, created, seq, prevHash), frontier]);
    }
    this.stats.appended += created.length;
    return outcomes;
  }
}

/**
 * Times and JSON leave the database as text, parsed here: the driver's own type parsing is
 * configured by the ORM and differs between postgres.js and PGlite.
 */
const iso = (column: string) =>
  `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

type RawWindow = {
  kid: string;
  merchantId: string;
  nbf: string;
  exp: string | null;
  revokedAt: string | null;
};
type RawRecord = Omit<ReceiptRecord, 'seq' | 'createdAt' | 'timestamp'> & {
  seq: string | number;
  createdAt: string;
  timestamp: string | null;
};

function fromRawWindow(k: RawWindow): KeyWindow {
  const date = (v: string | null) => (v === null ? null : new Date(v));
  return {
    kid: k.kid,
    merchantId: k.merchantId,
    nbf: new Date(k.nbf),
    exp: date(k.exp),
    revokedAt: date(k.revokedAt),
  };
}

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

/**
 * One statement per batch: the receipts, their sealed bodies and pending-timestamp marks, and
 * the new chain head, all from arrays (unnest), whatever the batch size. Times travel as text:
 * the ORM sets postgres.js's timestamptz[] serializer to pass values through untouched.
 */
const INSERT_BATCH = `
with new_receipts as (
  insert into receipts (id, merchant_id, seq, call_id, agent_id, order_id, bucket, tool, created_at,
    signing_key_kid, signed, jws, legal_posture, receipt_hash, prev_hash, entry_hash, content_hash, has_bodies)
  select r.id, $1, r.seq, r.call_id, r.agent_id, r.order_id, r.bucket, r.tool, r.created_at::timestamptz,
    r.kid, r.signed, r.jws, 'signed', r.receipt_hash, r.prev_hash, r.entry_hash, r.content_hash, r.has_bodies
  from unnest($2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
    $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
    $16::text[], $17::int4[])
    as r(id, seq, call_id, agent_id, order_id, bucket, tool, created_at, kid, signed, jws, receipt_hash,
      prev_hash, entry_hash, content_hash, has_bodies)
  returning id, created_at
), new_bodies as (
  insert into receipt_bodies (receipt_id, kind, vault_key_id, iv, ciphertext)
  select b.receipt_id, b.kind, b.vault_key_id, decode(b.iv, 'base64'), decode(b.ciphertext, 'base64')
  from unnest($18::text[], $19::text[], $20::text[], $21::text[], $22::text[])
    as b(receipt_id, kind, vault_key_id, iv, ciphertext)
  where b.receipt_id in (select id from new_receipts)
), new_pending as (
  insert into pending_timestamps (receipt_id, merchant_id, next_attempt_at)
  select id, $1, created_at from new_receipts
)
update chain_heads set seq = $23, entry_hash = $24, frontier = $25::text[] where merchant_id = $1`;

function insertParams(
  merchantId: string,
  created: { record: ReceiptRecord; bodies: AppendItem['bodies'] }[],
  seq: number,
  entryHash: string,
): unknown[] {
  const column = <T>(pick: (r: ReceiptRecord) => T) => created.map((c) => pick(c.record));
  const bodies = created.flatMap((c) => c.bodies.map((b) => ({ receiptId: c.record.id, ...b })));
  return [
    merchantId,
    column((r) => r.id),
    column((r) => r.seq),
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
    column((r) => r.prevHash),
    column((r) => r.entryHash),
    column((r) => r.contentHash),
    column((r) => r.hasBodies),
    bodies.map((b) => b.receiptId),
    bodies.map((b) => b.kind),
    bodies.map((b) => b.vaultKeyId),
    bodies.map((b) => toBase64(b.iv)),
    bodies.map((b) => toBase64(b.ciphertext)),
    seq,
    entryHash,
  ];
}

import { type Db, type RawQuery, receipts } from '@quittance/db';
import { and, asc, count, desc, eq, gte, max as largest, lt, type SQL } from 'drizzle-orm';
import type { Principal } from '../auth/api-keys';
import { ServiceError } from '../service-error';
import { decodeCursor, pageOf } from './cursor';
import { type ReceiptRecord, toReceipt } from './record';

export interface ListFilter {
  agentId?: string | undefined;
  orderId?: string | undefined;
  bucket?: string | undefined;
  tool?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  limit: number;
  cursor?: string | undefined;
}

/** What a principal may see: its merchant, and for agents only their own receipts. */
function visibleTo(principal: Principal): SQL {
  const merchant = eq(receipts.merchantId, principal.merchantId);
  if (principal.role === 'agent') {
    return and(merchant, eq(receipts.agentId, principal.agentId as string)) as SQL;
  }
  return merchant;
}

/**
 * What of the receipts `principal` may see, as a key for answers shared between requests: a
 * merchant's, or one agent's of them.
 */
export function sightOf(principal: Principal): string {
  return principal.role === 'agent'
    ? `${principal.merchantId} agent ${principal.agentId}`
    : `${principal.merchantId} all`;
}

/** The most receipts GET /receipts/by-order/{orderId} answers at once. */
export const MAX_ORDER_RECEIPTS = 10_000;

/**
 * The plain-SQL form of visibleTo, for statements of fixed text: `$1` the merchant, and when
 * `$3`, only agent `$4`'s receipts (an agent without an id sees nothing). Its parameters come
 * from visibilityParams.
 */
export const VISIBLE = `merchant_id = $1 and (not $3::boolean or agent_id = $4)`;

/** $1, $3 and $4 of VISIBLE for a principal, around `second` as $2. */
export function visibilityParams(principal: Principal, second: unknown): unknown[] {
  return [principal.merchantId, second, principal.role === 'agent', principal.agentId ?? null];
}

/**
 * One receipt's answer in a prepared statement of fixed text: the most frequent read, whose
 * query built through the ORM cost about half of its CPU. `timestamp` and `seq` are read
 * as text because the two drivers return jsonb and bigint differently to plain SQL.
 */
const ENVELOPE = `select signed, jws, legal_posture, "timestamp"::text as "timestamp", seq::text as seq,
    prev_hash, entry_hash
  from receipts where id = $2 and ${VISIBLE}`;

interface RawEnvelope {
  signed: string;
  jws: string;
  legal_posture: string;
  timestamp: string | null;
  seq: string;
  prev_hash: string;
  entry_hash: string;
}

/** Reads receipts, always through the principal's visibility. */
export class ReceiptQueries {
  constructor(
    private readonly db: Db,
    /** How get() reads (a prepared statement on PostgreSQL). */
    private readonly query: RawQuery,
  ) {}

  async get(principal: Principal, id: string) {
    const [row] = await this.query<RawEnvelope>(ENVELOPE, visibilityParams(principal, id));
    if (!row) throw new ServiceError('not_found', `no receipt ${id}`);
    return toReceipt({
      signed: row.signed,
      jws: row.jws,
      legalPosture: row.legal_posture,
      timestamp: row.timestamp === null ? null : JSON.parse(row.timestamp),
      seq: Number(row.seq),
      prevHash: row.prev_hash,
      entryHash: row.entry_hash,
    });
  }

  async list(principal: Principal, filter: ListFilter) {
    const conditions: SQL[] = [visibleTo(principal)];
    if (filter.agentId) conditions.push(eq(receipts.agentId, filter.agentId));
    if (filter.orderId) conditions.push(eq(receipts.orderId, filter.orderId));
    if (filter.bucket) conditions.push(eq(receipts.bucket, filter.bucket));
    if (filter.tool) conditions.push(eq(receipts.tool, filter.tool));
    if (filter.from) conditions.push(gte(receipts.createdAt, new Date(filter.from)));
    if (filter.to) conditions.push(lt(receipts.createdAt, new Date(filter.to)));
    if (filter.cursor) conditions.push(lt(receipts.seq, decodeCursor(filter.cursor)));
    const rows = await this.db
      .select()
      .from(receipts)
      .where(and(...conditions))
      .orderBy(desc(receipts.seq))
      .limit(filter.limit + 1);
    const { items, nextCursor } = pageOf(rows, filter.limit);
    return { receipts: items.map(toReceipt), nextCursor };
  }

  /**
   * All receipts of an order, oldest first; an order with more than `max` the principal may
   * see is refused (order_too_large) rather than answered in part.
   */
  async byOrder(principal: Principal, orderId: string, max = MAX_ORDER_RECEIPTS) {
    return (await this.orderRecords(principal, orderId, max)).map(toReceipt);
  }

  /** The stored rows of {@link byOrder}. */
  async orderRecords(
    principal: Principal,
    orderId: string,
    max = MAX_ORDER_RECEIPTS,
  ): Promise<ReceiptRecord[]> {
    const rows = await this.db
      .select()
      .from(receipts)
      .where(and(visibleTo(principal), eq(receipts.orderId, orderId)))
      .orderBy(asc(receipts.seq))
      .limit(max + 1);
    // "All receipts of an order" (SPEC §7): never a silently cut list.
    if (rows.length > max)
      throw new ServiceError(
        'order_too_large',
        `order ${orderId} has more than ${max} receipts this key may see; page through GET /receipts?orderId=, or export the order`,
      );
    return rows;
  }

  /**
   * What changes whenever the order's receipts as `principal` sees them do: a receipt is
   * added (their count and last seq), or a timestamp attached (the only change to a stored
   * receipt). The same as {@link orderVersionOf} of the rows read at that moment.
   */
  async orderVersion(principal: Principal, orderId: string): Promise<string> {
    const [row] = await this.db
      .select({ n: count(), last: largest(receipts.seq), stamped: count(receipts.timestamp) })
      .from(receipts)
      .where(and(visibleTo(principal), eq(receipts.orderId, orderId)));
    return `${Number(row?.n ?? 0)}/${Number(row?.last ?? 0)}/${Number(row?.stamped ?? 0)}`;
  }

  /** The stored row of a receipt the principal may see; `not_found` otherwise. */
  async record(principal: Principal, id: string): Promise<ReceiptRecord> {
    const [record] = await this.db
      .select()
      .from(receipts)
      .where(and(visibleTo(principal), eq(receipts.id, id)))
      .limit(1);
    if (!record) throw new ServiceError('not_found', `no receipt ${id}`);
    return record;
  }
}

/** {@link ReceiptQueries.orderVersion} of an order's rows, oldest first. */
export function orderVersionOf(rows: ReceiptRecord[]): string {
  let stamped = 0;
  for (const row of rows) if (row.timestamp !== null) stamped++;
  return `${rows.length}/${rows.at(-1)?.seq ?? 0}/${stamped}`;
}

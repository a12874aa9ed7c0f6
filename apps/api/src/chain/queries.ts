import { type Db, receipts } from '@quittance/db';
import { and, asc, desc, eq, gte, lt, type SQL } from 'drizzle-orm';
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

/** Reads receipts, always through the principal's visibility. */
export class ReceiptQueries {
  constructor(private readonly db: Db) {}

  async get(principal: Principal, id: string) {
    return toReceipt(await this.record(principal, id));
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

  /** All receipts of an order, oldest first (bounded: orders are small). */
  async byOrder(principal: Principal, orderId: string, limit = 10_000) {
    const rows = await this.db
      .select()
      .from(receipts)
      .where(and(visibleTo(principal), eq(receipts.orderId, orderId)))
      .orderBy(asc(receipts.seq))
      .limit(limit);
    return rows.map(toReceipt);
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

import { type Db, receipts } from '@quittance/db';
import { base64url, fromBase64url, fromUtf8, utf8 } from '@quittance/format';
import type { Vault } from '@quittance/vault';
import { and, asc, desc, eq, gte, lt, type SQL } from 'drizzle-orm';
import type { Principal } from '../auth/api-keys';
import { ApiError } from '../http/problem';
import { openBodies } from './bodies';
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

/** Opaque cursor: the chain seq to continue below. Seqs only grow, so pages stay stable. */
export function encodeCursor(seq: number): string {
  return base64url(utf8(JSON.stringify({ s: seq })));
}

export function decodeCursor(cursor: string): number {
  try {
    const { s } = JSON.parse(fromUtf8(fromBase64url(cursor)));
    if (Number.isSafeInteger(s) && s > 0) return s;
  } catch {}
  throw new ApiError('invalid_request', 'cursor is not one this API returned', [
    { path: '/cursor', code: 'invalid_format', message: 'cursor is not valid' },
  ]);
}

/** What a principal may see: its merchant, and for agents only their own receipts. */
function visibleTo(principal: Principal): SQL {
  const merchant = eq(receipts.merchantId, principal.merchantId);
  if (principal.role === 'agent') {
    return and(merchant, eq(receipts.agentId, principal.agentId as string)) as SQL;
  }
  return merchant;
}

/** Reads receipts and bodies, always through the principal's visibility. */
export class ReceiptQueries {
  constructor(
    private readonly db: Db,
    private readonly vault: Vault,
  ) {}

  async get(principal: Principal, id: string) {
    const record = await this.#find(principal, id);
    return toReceipt(record);
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
    const page = rows.slice(0, filter.limit);
    const last = page.at(-1);
    return {
      receipts: page.map(toReceipt),
      nextCursor: rows.length > filter.limit && last ? encodeCursor(last.seq) : null,
    };
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

  /** Decrypted bodies; 404 when not visible, 410 once retention destroyed the month's key. */
  async bodies(principal: Principal, id: string) {
    if (principal.role === 'agent')
      throw new ApiError('forbidden', 'agent keys may not read bodies');
    const record = await this.#find(principal, id);
    if (!record.hasBodies)
      throw new ApiError('not_found', `receipt ${id} was issued with hashes only`);
    const bodies = await openBodies(this.db, this.vault, record.merchantId, id);
    if (bodies === 'destroyed') throw destroyed(id);
    if (bodies === 'none') throw new ApiError('not_found', `receipt ${id} has no stored bodies`);
    return { id, ...bodies };
  }

  async #find(principal: Principal, id: string): Promise<ReceiptRecord> {
    const [record] = await this.db
      .select()
      .from(receipts)
      .where(and(visibleTo(principal), eq(receipts.id, id)))
      .limit(1);
    if (!record) throw new ApiError('not_found', `no receipt ${id}`);
    return record;
  }
}

function destroyed(id: string) {
  return new ApiError(
    'bodies_destroyed',
    `the bodies of ${id} were destroyed at the end of retention`,
  );
}

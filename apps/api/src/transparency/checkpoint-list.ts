import { checkpoints, type Db } from '@quittance/db';
import type { Checkpoint } from '@quittance/format';
import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import type { Principal } from '../auth/api-keys';
import { decodeCursor, pageOf } from '../chain/cursor';
import { checkpointView } from './proofs';

/** The merchant's signed checkpoints (SPEC §6, §8), newest first, a page at a time. */
export class CheckpointList {
  constructor(private readonly db: Db) {}

  async page(
    principal: Principal,
    query: { limit: number; cursor?: string | undefined },
  ): Promise<{ checkpoints: Checkpoint[]; nextCursor: string | null }> {
    const conditions: SQL[] = [eq(checkpoints.merchantId, principal.merchantId)];
    if (query.cursor) conditions.push(lt(checkpoints.seq, decodeCursor(query.cursor)));
    const rows = await this.db
      .select()
      .from(checkpoints)
      .where(and(...conditions))
      .orderBy(desc(checkpoints.seq))
      .limit(query.limit + 1);
    const { items, nextCursor } = pageOf(rows, query.limit);
    return { checkpoints: items.map(checkpointView), nextCursor };
  }
}

import { sql } from 'drizzle-orm';
import type { Db, RawQuery, Tx } from './client';
import { rowsOf } from './migrate';

/**
 * The same plain `$n` statement through the ORM's handle or one of its transactions, where
 * code that reads with a RawQuery must also run inside an ORM transaction.
 */
export function rawQueryOver(db: Db | Tx): RawQuery {
  return async <T>(text: string, params: unknown[] = []) => {
    // "select $1" splits into ['select ', '1', '']: text at even places, parameter numbers at odd.
    const chunks = text
      .split(/\$(\d+)/)
      .map((part, i) => (i % 2 === 0 ? sql.raw(part) : sql.param(params[Number(part) - 1])));
    return rowsOf<T>(await db.execute(sql.join(chunks)));
  };
}

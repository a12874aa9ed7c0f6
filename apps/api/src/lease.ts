import type { AnyColumn, SQL } from 'drizzle-orm';
import { isNull, lt, or, sql } from 'drizzle-orm';

/**
 * Work held in PostgreSQL (a timestamp to ask for, an export to build) carries a
 * `leased_until`: a worker takes the row by setting it, and a worker that died frees the
 * row when it passes. Times are the database's, so workers' clocks do not matter.
 */

/** The row is nobody's: never leased, or its lease has run out. */
export function leaseIsFree(leasedUntil: AnyColumn): SQL {
  return or(isNull(leasedUntil), lt(leasedUntil, sql`now()`)) as SQL;
}

/** The end of a lease taken now for `seconds`. */
export function leaseFor(seconds: number): SQL {
  return sql`now() + make_interval(secs => ${seconds})`;
}

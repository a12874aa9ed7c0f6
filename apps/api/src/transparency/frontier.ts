import { type Db, receipts, type Tx } from '@quittance/db';
import { merkleFrontier, popcount } from '@quittance/format';
import { and, asc, eq, lte } from 'drizzle-orm';

/**
 * The stored frontier of a merchant's entries 1..seq when it fits that size; otherwise (a
 * chain written before the frontier was kept) rebuilt once from the chain entries that
 * `entries` reads. Call it where the head is held, so the entries read are exactly 1..seq.
 */
export async function frontierAt(
  seq: number,
  stored: string[] | null,
  entries: () => Promise<string[]>,
): Promise<string[]> {
  if (stored && stored.length === popcount(seq)) return stored;
  const hashes = await entries();
  if (hashes.length !== seq) throw new Error(`chain has ${hashes.length} entries up to seq ${seq}`);
  return merkleFrontier(hashes);
}

/** Entry hashes 1..seq of a merchant, through the ORM (a transaction's handle inside one). */
export function entriesThrough(db: Db | Tx, merchantId: string, seq: number) {
  return async () =>
    (
      await db
        .select({ entryHash: receipts.entryHash })
        .from(receipts)
        .where(and(eq(receipts.merchantId, merchantId), lte(receipts.seq, seq)))
        .orderBy(asc(receipts.seq))
    ).map((r) => r.entryHash);
}

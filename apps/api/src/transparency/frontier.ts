import type { RawQuery } from '@quittance/db';
import { merkleFrontier } from '@quittance/format';

/** Number of set bits: a tree of `size` entries has one frontier hash per set bit. */
function popcount(size: number): number {
  let count = 0;
  for (let n = size; n > 0; n = Math.floor(n / 2)) count += n % 2;
  return count;
}

/**
 * The stored frontier of a merchant's entries 1..seq when it fits that size; otherwise (a
 * chain written before the frontier was kept) rebuilt once from the chain entries. Call it in
 * the transaction that holds the head, so the entries read are exactly 1..seq.
 */
export async function frontierAt(
  query: RawQuery,
  merchantId: string,
  seq: number,
  stored: string[] | null,
): Promise<string[]> {
  if (stored && stored.length === popcount(seq)) return stored;
  const rows = await query<{ entry_hash: string }>(
    'select entry_hash from receipts where merchant_id = $1 and seq <= $2 order by seq',
    [merchantId, seq],
  );
  if (rows.length !== seq)
    throw new Error(`chain of ${merchantId} has ${rows.length} entries up to seq ${seq}`);
  return merkleFrontier(rows.map((r) => r.entry_hash));
}

/** The frontier column as text: both drivers parse JSON the same way, arrays not. */
export const FRONTIER_JSON = 'array_to_json(frontier)::text as frontier';

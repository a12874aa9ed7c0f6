import { type Db, logSubtrees, receipts } from '@quittance/db';
import { merkleNodeHash, merkleRoot, type RangeRoot } from '@quittance/format';
import { and, asc, eq, gt, lte } from 'drizzle-orm';

/** Subtrees this large or larger are stored once computed; smaller ones hash their entries. */
const STORED_FROM_LEVEL = 8;

const isPowerOfTwo = (n: number) => n >= 1 && 2 ** Math.round(Math.log2(n)) === n;

/** Largest power of two strictly less than n (n ≥ 2): RFC 9162's split. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * A merchant's log tree (SPEC §6.1) read from the database: entry hashes from the receipts,
 * roots of complete subtrees of 256 entries and more from `log_subtrees`, filled on first use.
 * Only ranges inside the tree of a signed checkpoint are asked for, and those never change.
 */
export class LogTree {
  constructor(private readonly db: Db) {}

  /** Merkle Tree Hash of any range the RFC 9162 proofs ask for, for one merchant. */
  rangeRoot(merchantId: string): RangeRoot {
    const root: RangeRoot = async (from, to) => {
      const size = to - from;
      if (isPowerOfTwo(size) && from % size === 0) return this.#perfect(merchantId, from, size);
      // The right edge of a tree: its left part is a complete aligned subtree.
      const k = splitPoint(size);
      return merkleNodeHash(await root(from, from + k), await root(from + k, to));
    };
    return root;
  }

  async #perfect(merchantId: string, from: number, size: number): Promise<string> {
    const level = Math.log2(size);
    if (level < STORED_FROM_LEVEL) return merkleRoot(await this.#entries(merchantId, from, size));
    const index = from / size;
    const key = and(
      eq(logSubtrees.merchantId, merchantId),
      eq(logSubtrees.level, level),
      eq(logSubtrees.index, index),
    );
    const [stored] = await this.db.select({ hash: logSubtrees.hash }).from(logSubtrees).where(key);
    if (stored) return stored.hash;
    const half = size / 2;
    const hash = await merkleNodeHash(
      await this.#perfect(merchantId, from, half),
      await this.#perfect(merchantId, from + half, half),
    );
    await this.db
      .insert(logSubtrees)
      .values({ merchantId, level, index, hash })
      .onConflictDoNothing();
    return hash;
  }

  /** Entry hashes of seq from+1 .. from+size; all of them, or the chain is broken. */
  async #entries(merchantId: string, from: number, size: number): Promise<string[]> {
    const rows = await this.db
      .select({ entryHash: receipts.entryHash })
      .from(receipts)
      .where(
        and(
          eq(receipts.merchantId, merchantId),
          gt(receipts.seq, from),
          lte(receipts.seq, from + size),
        ),
      )
      .orderBy(asc(receipts.seq));
    if (rows.length !== size)
      throw new Error(`log of ${merchantId}: ${rows.length} entries in (${from}, ${from + size}]`);
    return rows.map((r) => r.entryHash);
  }
}

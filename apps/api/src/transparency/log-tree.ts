import { type Db, logSubtrees, receipts } from '@quittance/db';
import { merkleNodeHash, merkleRoot, type RangeRoot, splitPoint } from '@quittance/format';
import { and, asc, eq, gt, lte } from 'drizzle-orm';

/** Subtrees this large or larger are stored once computed; smaller ones hash their entries. */
const STORED_FROM_LEVEL = 8;
const BLOCK = 2 ** STORED_FROM_LEVEL;

const isPowerOfTwo = (n: number) => n >= 1 && 2 ** Math.round(Math.log2(n)) === n;

/**
 * A merchant's log tree (SPEC §6.1) read from the database: entry hashes from the receipts,
 * roots of complete subtrees of 256 entries and more from `log_subtrees`, filled on first use.
 * Only ranges inside the tree of a signed checkpoint are asked for, and those never change.
 */
export class LogTree {
  constructor(private readonly db: Db) {}

  /**
   * Stores the roots of every complete subtree of 256 entries or more inside entries 1..size
   * that is not stored yet: the checkpoint job calls it for each checkpoint, so the work is
   * done as the log grows, a few blocks at a time, never all at once by a proof request.
   */
  async fill(merchantId: string, size: number): Promise<void> {
    const root = this.rangeRoot(merchantId);
    let from = 0;
    for (let width = 2 ** 52; width >= 1; width /= 2) {
      if (Math.floor(size / width) % 2 === 0) continue;
      if (width >= BLOCK) await root(from, from + width);
      from += width;
    }
  }

  /**
   * The subtree roots `plan` (a proof's construction) will ask for, loaded in two queries
   * (stored roots, then the entry blocks of the small ones): a warm proof costs a handful of
   * round trips whatever the log's size. `plan` runs once on placeholders to learn the ranges.
   */
  async rootsFor(merchantId: string, plan: (root: RangeRoot) => Promise<unknown>) {
    const perfect: [number, number][] = [];
    const decompose = (from: number, to: number) => {
      const size = to - from;
      if (isPowerOfTwo(size) && from % size === 0) return void perfect.push([from, size]);
      const k = splitPoint(size);
      decompose(from, from + k);
      decompose(from + k, to);
    };
    await plan(async (from, to) => {
      decompose(from, to);
      return '0'.repeat(64);
    });
    // Primary-key lookups and block reads, issued together: they pipeline on one round trip
    // each way, where one query OR-ing them all makes the planner scan.
    const large = perfect.filter(([, size]) => Math.log2(size) >= STORED_FROM_LEVEL);
    const stored = new Map<string, string>();
    await Promise.all(
      large.map(async ([from, size]) => {
        const level = Math.log2(size);
        const hash = await this.#stored(merchantId, level, from / size);
        if (hash) stored.set(`${level}:${from / size}`, hash);
      }),
    );
    const blocks = new Map<number, Promise<string[]>>();
    for (const [from, size] of perfect) {
      const block = Math.floor(from / BLOCK);
      if (Math.log2(size) < STORED_FROM_LEVEL && !blocks.has(block))
        blocks.set(block, this.#block(merchantId, block));
    }
    await Promise.all(blocks.values());
    return this.rangeRoot(merchantId, { stored, blocks });
  }

  /**
   * Merkle Tree Hash of any range the RFC 9162 proofs ask for, for one merchant. Subtree
   * roots and entry blocks already loaded are used first; what is missing is read (and a
   * large subtree's root stored) on the way. Each 256-entry block is read once per proof.
   */
  rangeRoot(
    merchantId: string,
    known: { stored?: Map<string, string>; blocks?: Map<number, Promise<string[]>> } = {},
  ): RangeRoot {
    const stored = known.stored ?? new Map<string, string>();
    const blocks = known.blocks ?? new Map<number, Promise<string[]>>();
    const entries = async (from: number, size: number) => {
      const block = Math.floor(from / BLOCK);
      let hashes = blocks.get(block);
      if (!hashes) {
        hashes = this.#block(merchantId, block);
        blocks.set(block, hashes);
      }
      const start = from - block * BLOCK;
      const slice = (await hashes).slice(start, start + size);
      if (slice.length !== size)
        throw new Error(`log of ${merchantId}: entries ${from + 1}..${from + size} are missing`);
      return slice;
    };
    const perfect = async (from: number, size: number): Promise<string> => {
      const level = Math.log2(size);
      if (level < STORED_FROM_LEVEL) return merkleRoot(await entries(from, size));
      const index = from / size;
      const known = stored.get(`${level}:${index}`);
      if (known) return known;
      const found = await this.#stored(merchantId, level, index);
      if (found) return found;
      const half = size / 2;
      const hash = await merkleNodeHash(
        await perfect(from, half),
        await perfect(from + half, half),
      );
      await this.db
        .insert(logSubtrees)
        .values({ merchantId, level, index, hash })
        .onConflictDoNothing();
      stored.set(`${level}:${index}`, hash);
      return hash;
    };
    const root: RangeRoot = async (from, to) => {
      const size = to - from;
      if (isPowerOfTwo(size) && from % size === 0) return perfect(from, size);
      // The right edge of a tree: its left part is a complete aligned subtree.
      const k = splitPoint(size);
      return merkleNodeHash(await root(from, from + k), await root(from + k, to));
    };
    return root;
  }

  /** A stored subtree root, by primary key. */
  async #stored(merchantId: string, level: number, index: number): Promise<string | undefined> {
    const [row] = await this.db
      .select({ hash: logSubtrees.hash })
      .from(logSubtrees)
      .where(
        and(
          eq(logSubtrees.merchantId, merchantId),
          eq(logSubtrees.level, level),
          eq(logSubtrees.index, index),
        ),
      );
    return row?.hash;
  }

  /** Entry hashes of block `block`: seq block·256+1 .. (block+1)·256, fewer at the head. */
  async #block(merchantId: string, block: number): Promise<string[]> {
    const rows = await this.db
      .select({ entryHash: receipts.entryHash })
      .from(receipts)
      .where(
        and(
          eq(receipts.merchantId, merchantId),
          gt(receipts.seq, block * BLOCK),
          lte(receipts.seq, (block + 1) * BLOCK),
        ),
      )
      .orderBy(asc(receipts.seq));
    return rows.map((r) => r.entryHash);
  }
}

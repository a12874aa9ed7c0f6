import {
  type Db,
  logSubtrees,
  type RawQuery,
  rawQueryOver,
  receipts,
  rowsOf,
  type Tx,
} from '@quittance/db';
import { fromHex, merkleNodeHash, merkleRoot, type RangeRoot, splitPoint } from '@quittance/format';
import { and, asc, eq, gt, lte, sql } from 'drizzle-orm';
import {
  baseOf,
  completedBy,
  type NodePlace,
  placeOf,
  positionIn,
  TILE_HEIGHT,
  TILE_WIDTH,
} from './tiles';

/** Tiles of a safe-integer tree stop below level 53. */
const TOP_TILE_LEVEL = 52;
/** Level-4 nodes made per round of `fill`: 65,536 entries read and one statement written. */
const FILL_NODES = 4096;

const isPowerOfTwo = (n: number) => n >= 1 && 2 ** Math.round(Math.log2(n)) === n;

/** A stored node's key: its tile and its place in it. */
const nodeKey = (level: number, tile: number, at: number) => `${level}:${tile}:${at}`;
const placeKey = (p: NodePlace) => `${p.tileLevel}:${p.tileIndex}:${p.offset}:${p.count}`;
const PLACEHOLDER = '0'.repeat(64);
/** Bytes of one SHA-256 hash in a tile row. */
const HASH_BYTES = 32;

/**
 * The hashes of proof nodes, one statement for any proof (`#load`): $2..$4 name each stored
 * node (level 4 and up) by its tile and place in it, cut out there (empty past a tile's end);
 * $5 lists 16-entry blocks whose entry hashes come from the receipts (level 0, `index` their
 * seq).
 */
const LOAD = `select t.level, t.index, p.at,
    encode(substring(t.hashes from p.at * ${HASH_BYTES} + 1 for ${HASH_BYTES}), 'hex') as hex
  from unnest($2::int[], $3::bigint[], $4::int[]) as p(level, tile, at)
  join log_subtrees t on t.merchant_id = $1 and t.level = p.level and t.index = p.tile
union all
select 0, r.seq, 0, r.entry_hash
  from unnest($5::bigint[]) as b(block)
  join receipts r on r.merchant_id = $1
    and r.seq between b.block * ${TILE_WIDTH} + 1 and b.block * ${TILE_WIDTH} + ${TILE_WIDTH}`;

/**
 * Hashes read for proofs: stored nodes (level 4 and up) by their place in their tile
 * (`tileLevel:tileIndex:offset`), entry hashes by seq.
 */
export interface ProofHashes {
  nodes: Record<string, string>;
  entries: Record<string, string>;
}

/**
 * SQL of one row, `nodes` and `entries` (ProofHashes' two members as json text, null when
 * none), with every hash an inclusion proof of entry `seq` in the tree of the first `size`
 * entries of merchant $1 can ask for (`seq` and `size` SQL expressions of type bigint): the
 * complete siblings of the entry's path and the complete subtrees `size` splits into (the
 * tree's right edge), cut out of their tiles from level 4 up, and below that the 16-entry
 * blocks of the entry and of the tree's end. It lets a proof be read in the statement that
 * finds the receipt. The rules here are a superset of what RFC 9162's PATH asks for, and
 * rootsFor uses them only when they cover the proof's plan: were they wrong, a proof would
 * cost its usual second round trip, never a wrong hash.
 */
export function inclusionHashesSql(seq: string, size: string): string {
  const [m, n] = [`(${seq} - 1)`, `(${size})`];
  // A node's place in its tile (placeOf and positionIn in tiles.ts), h its height there.
  const h = 'w.level % 4';
  const k = `w.index % (16 >> ${h})`;
  const b = `((${k} + 1) * (1 << ${h}) - 1)`;
  return `select
    (select json_object_agg(p.tile_level || ':' || p.tile || ':' || p.at,
        encode(substring(t.hashes from p.at * ${HASH_BYTES} + 1 for ${HASH_BYTES}), 'hex'))::text
      from (select w.level - ${h} as tile_level, w.index / (16 >> ${h}) as tile,
          (${b} + ${b} / 2 + ${b} / 4 + ${b} / 8 + ${h})::int as at
        from (select l as level, (${m} >> l) # 1 as index from generate_series(4, 52) l
            where (((${m} >> l) # 1) + 1) << l <= ${n}
          union
          select l, (${n} >> l) - 1 from generate_series(4, 52) l where (${n} >> l) & 1 = 1) w
      ) p
      join log_subtrees t on t.merchant_id = $1 and t.level = p.tile_level and t.index = p.tile
    ) as nodes,
    (select json_object_agg(e.seq, e.entry_hash)::text
      from (select distinct block from (values (${m} >> 4),
          (case when ${n} & 15 <> 0 then ${n} >> 4 end)) v(block) where block is not null) blocks
      join receipts e on e.merchant_id = $1
        and e.seq between blocks.block * ${TILE_WIDTH} + 1 and blocks.block * ${TILE_WIDTH} + ${TILE_WIDTH}
    ) as entries`;
}

/** Whether `hashes` hold each of `places` whole. */
function holds(hashes: ProofHashes, places: readonly NodePlace[]): boolean {
  return places.every((p) => hashesAt(hashes, p).length === p.count);
}

/** The hashes `hashes` hold of `place`: one node's, or a block's entries; fewer when missing. */
function hashesAt(hashes: ProofHashes, place: NodePlace): string[] {
  if (place.tileLevel > 0) {
    const hex = hashes.nodes[nodeKey(place.tileLevel, place.tileIndex, place.offset)];
    return hex ? [hex] : []; // empty past a tile's end
  }
  const found: string[] = [];
  const first = place.tileIndex * TILE_WIDTH + place.offset + 1;
  for (let seq = first; seq < first + place.count; seq++) {
    const hex = hashes.entries[seq];
    if (hex !== undefined) found.push(hex); // a hole counts as missing, as a short block does
  }
  return found;
}

/** The 32-byte hashes of a tile, hex, from the hex of the row. */
function hashesIn(hex: string): string[] {
  const hashes: string[] = [];
  for (let at = 0; at < hex.length; at += 64) hashes.push(hex.slice(at, at + 64));
  return hashes;
}

/** A tile being filled: its level, position, nodes of its level so far and all its hashes. */
interface OpenTile {
  level: number;
  index: number;
  base: number;
  hashes: string[];
}

/**
 * A merchant's log tree (SPEC §6.1) read from the database: entry hashes from the receipts,
 * every node of level 4 and up from the tiles of `log_subtrees` (tiles.ts). The tiles are
 * filled up to a tree size before a checkpoint of that size is signed (checkpoint-signing.ts),
 * so a proof reads one statement's rows and hashes only inside a 16-entry block and along
 * the tree's right edge; a checkpoint older than the tiles has them filled by its first proof.
 */
export class LogTree {
  constructor(
    private readonly db: Db | Tx,
    /** How proofs read (a prepared statement on PostgreSQL); the ORM's handle when not given. */
    private readonly query: RawQuery = rawQueryOver(db),
  ) {}

  /**
   * Stores the tiles of entries 1..size not stored yet, in rounds of 65,536 entries, each
   * written by one statement: the tiles are always a prefix of the tree, level by level, and
   * racing fillers (which write the same hashes) only ever lengthen a row.
   */
  async fill(merchantId: string, size: number): Promise<void> {
    const target = Math.floor(size / TILE_WIDTH);
    const open = await this.#lastTiles(merchantId);
    const first = open.get(TILE_HEIGHT);
    let done = first ? first.index * TILE_WIDTH + first.base : 0;
    while (done < target) {
      const upTo = Math.min(target, done + FILL_NODES);
      const entries = await this.#entries(merchantId, done * TILE_WIDTH, upTo * TILE_WIDTH);
      if (entries.length !== (upTo - done) * TILE_WIDTH)
        throw new Error(
          `log of ${merchantId}: entries ${done * TILE_WIDTH + 1}..${upTo * TILE_WIDTH} are missing`,
        );
      const touched = new Set<OpenTile>();
      for (let i = done; i < upTo; i++) {
        const block = entries.slice((i - done) * TILE_WIDTH, (i - done + 1) * TILE_WIDTH);
        await this.#place(open, touched, TILE_HEIGHT, i, await merkleRoot(block));
      }
      await this.#write(merchantId, [...touched]);
      done = upTo;
    }
  }

  /** rootHash of entries 1..size (size ≥ 1) from the stored tree, filling it when behind. */
  async root(merchantId: string, size: number): Promise<string> {
    const root = await this.rootsFor(merchantId, (r) => r(0, size));
    return root(0, size);
  }

  /**
   * The subtree roots `plan` (a proof's construction) will ask for, from the entries and tiles
   * that hold them: `read` when it holds them all (read with the receipt, inclusionHashesSql),
   * else read in one statement, so that a proof costs one round trip whatever the log's size.
   * `plan` runs once on placeholders to learn the ranges; tiles missing from a tree made
   * before they were kept are filled, once, up to the largest range asked.
   */
  async rootsFor(
    merchantId: string,
    plan: (root: RangeRoot) => Promise<unknown>,
    read?: ProofHashes,
  ): Promise<RangeRoot> {
    const places = new Map<string, NodePlace>();
    let size = 0;
    const decompose = (from: number, to: number) => {
      const width = to - from;
      if (isPowerOfTwo(width) && from % width === 0) {
        const place = placeOf(Math.log2(width), from / width);
        return void places.set(placeKey(place), place);
      }
      const k = splitPoint(width);
      decompose(from, from + k);
      decompose(from + k, to);
    };
    await plan(async (from, to) => {
      decompose(from, to);
      size = Math.max(size, to);
      return PLACEHOLDER;
    });
    const wanted = [...places.values()];
    let hashes = read && holds(read, wanted) ? read : await this.#load(merchantId, wanted);
    if (!holds(hashes, wanted)) {
      await this.fill(merchantId, size);
      hashes = await this.#load(merchantId, wanted);
    }
    const perfect = async (level: number, index: number) => {
      const place = placeOf(level, index);
      const found = hashesAt(hashes, place);
      if (found.length !== place.count)
        throw new Error(
          `log of ${merchantId}: the ${place.tileLevel === 0 ? 'entries' : 'tile'} of node ${level}:${index} are missing`,
        );
      return place.tileLevel === 0 ? merkleRoot(found) : (found[0] as string);
    };
    const root: RangeRoot = async (from, to) => {
      const width = to - from;
      if (isPowerOfTwo(width) && from % width === 0) return perfect(Math.log2(width), from / width);
      // The right edge of a tree: its left part is a complete aligned subtree.
      const k = splitPoint(width);
      return merkleNodeHash(await root(from, from + k), await root(from + k, to));
    };
    return root;
  }

  /**
   * The hashes at `places`: each stored node (level 4 and up) cut out of its tile by the
   * database, and the 16-entry blocks of level 0 from the receipts, in one statement of
   * index probes whose text never changes (prepared once per connection on PostgreSQL).
   */
  async #load(merchantId: string, places: readonly NodePlace[]): Promise<ProofHashes> {
    const hashes: ProofHashes = { nodes: {}, entries: {} };
    if (places.length === 0) return hashes; // a proof of no nodes (from = to, or size 1)
    const nodes = places.filter((p) => p.tileLevel > 0);
    const blocks = [...new Set(places.filter((p) => p.tileLevel === 0).map((p) => p.tileIndex))];
    type Row = { level: number; index: number | string; at: number; hex: string };
    const rows = await this.query<Row>(LOAD, [
      merchantId,
      nodes.map((p) => p.tileLevel),
      nodes.map((p) => p.tileIndex),
      nodes.map((p) => p.offset),
      blocks,
    ]);
    for (const row of rows) {
      if (Number(row.level) > 0)
        hashes.nodes[nodeKey(Number(row.level), Number(row.index), Number(row.at))] = row.hex;
      else hashes.entries[Number(row.index)] = row.hex;
    }
    return hashes;
  }

  /** The last stored tile of each level, by level (one statement, a probe per level). */
  async #lastTiles(merchantId: string): Promise<Map<number, OpenTile>> {
    const rows = rowsOf<{ level: number; index: number | string; hex: string }>(
      await this.db.execute(sql`select l.level, t.index, encode(t.hashes, 'hex') as hex
        from generate_series(${TILE_HEIGHT}::int, ${TOP_TILE_LEVEL}::int, ${TILE_HEIGHT}::int) as l(level)
        cross join lateral (
          select index, hashes from log_subtrees
          where merchant_id = ${merchantId} and level = l.level
          order by index desc limit 1
        ) t`),
    );
    const open = new Map<number, OpenTile>();
    for (const row of rows) {
      const level = Number(row.level);
      const hashes = hashesIn(row.hex);
      const base = baseOf(hashes.length);
      if (base === undefined)
        throw new Error(
          `log of ${merchantId}: tile ${level}:${row.index} has ${hashes.length} hashes`,
        );
      open.set(level, { level, index: Number(row.index), base, hashes });
    }
    return open;
  }

  /**
   * Puts node `position` of `level` in its tile with the nodes it completes above it there,
   * and when it completes the tile, the tile's root in the level 4 up. Positions must follow
   * the stored tiles exactly: a gap would be a corrupt tree, so it throws rather than store one.
   */
  async #place(
    open: Map<number, OpenTile>,
    touched: Set<OpenTile>,
    level: number,
    position: number,
    hash: string,
  ): Promise<void> {
    const index = Math.floor(position / TILE_WIDTH);
    let tile = open.get(level);
    const next = tile ? tile.index * TILE_WIDTH + tile.base : 0;
    if (position !== next)
      throw new Error(`log tree level ${level}: node ${position} placed where ${next} is due`);
    if (!tile || tile.index !== index) {
      tile = { level, index, base: 0, hashes: [] };
      open.set(level, tile);
    }
    tile.hashes.push(hash);
    tile.base += 1;
    touched.add(tile);
    const { base, hashes } = tile;
    for (let height = 1; height <= TILE_HEIGHT && base % 2 ** height === 0; height++) {
      const k = base / 2 ** height - 1;
      const parent = await merkleNodeHash(
        hashes[positionIn(height - 1, 2 * k)] as string,
        hashes[positionIn(height - 1, 2 * k + 1)] as string,
      );
      // The root of a full tile is a node of the tile 4 levels up, not of this one.
      if (height === TILE_HEIGHT)
        await this.#place(open, touched, level + TILE_HEIGHT, index, parent);
      else hashes.push(parent);
    }
    if (hashes.length !== completedBy(base))
      throw new Error(`log tree tile ${level}:${index}: ${hashes.length} hashes for ${base} nodes`);
  }

  /** Writes tiles in one statement, in key order; a row is only ever replaced by a longer one. */
  async #write(merchantId: string, tiles: OpenTile[]): Promise<void> {
    if (tiles.length === 0) return;
    tiles.sort((a, b) => a.level - b.level || a.index - b.index);
    await this.db
      .insert(logSubtrees)
      .values(
        tiles.map((t) => ({
          merchantId,
          level: t.level,
          index: t.index,
          hashes: fromHex(t.hashes.join('')),
        })),
      )
      .onConflictDoUpdate({
        target: [logSubtrees.merchantId, logSubtrees.level, logSubtrees.index],
        set: { hashes: sql`excluded.hashes` },
        setWhere: sql`octet_length(excluded.hashes) > octet_length(${logSubtrees.hashes})`,
      });
  }

  /** Entry hashes of seq after+1 .. upTo, in order. */
  async #entries(merchantId: string, after: number, upTo: number): Promise<string[]> {
    const rows = await this.db
      .select({ entryHash: receipts.entryHash })
      .from(receipts)
      .where(
        and(eq(receipts.merchantId, merchantId), gt(receipts.seq, after), lte(receipts.seq, upTo)),
      )
      .orderBy(asc(receipts.seq));
    return rows.map((r) => r.entryHash);
  }
}

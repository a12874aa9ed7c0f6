/**
 * Where each node of a merchant's log tree is kept (`log_subtrees` in schema.ts). Levels 0..3
 * are hashed from blocks of 16 entries. Level 4 and up are stored in tiles: the tile of level
 * L (a multiple of 4) and index j holds the subtree under node (L + 4, j) but its root: its 16
 * nodes of level L and the 14 above them, in the order they complete (post-order). A growing
 * tile thus only ever appends, and a node of level 4 or more is read, never hashed.
 */
export const TILE_HEIGHT = 4;
/** Nodes of its own level a tile holds. */
export const TILE_WIDTH = 2 ** TILE_HEIGHT;

/** How many nodes of a tile are complete once its first `base` nodes of level L are in. */
export function completedBy(base: number): number {
  let nodes = 0;
  for (let height = 0; height < TILE_HEIGHT; height++) nodes += Math.floor(base / 2 ** height);
  return nodes;
}

/** How many nodes of level L a tile of `nodes` hashes holds; undefined if no count fits. */
export function baseOf(nodes: number): number | undefined {
  for (let base = 0; base <= TILE_WIDTH; base++) if (completedBy(base) === nodes) return base;
  return undefined;
}

/** Position in its tile of the `k`-th node `height` levels above the tile's own level. */
export function positionIn(height: number, k: number): number {
  // It completes with base node (k + 1)·2^height, after the one node below it of each height.
  return completedBy((k + 1) * 2 ** height - 1) + height;
}

/**
 * Where node (level, index) is read from: tile (tileLevel, tileIndex), `count` hashes from
 * `offset`. A node of level 4 or more is one stored hash; one below is the root of `count`
 * entries of a 16-entry block (tile level 0).
 */
export interface NodePlace {
  tileLevel: number;
  tileIndex: number;
  offset: number;
  count: number;
}

export function placeOf(level: number, index: number): NodePlace {
  const tileLevel = level - (level % TILE_HEIGHT);
  const height = level - tileLevel;
  const perTile = 2 ** (TILE_HEIGHT - height);
  const tileIndex = Math.floor(index / perTile);
  const k = index % perTile;
  if (tileLevel === 0) return { tileLevel, tileIndex, offset: k * 2 ** height, count: 2 ** height };
  return { tileLevel, tileIndex, offset: positionIn(height, k), count: 1 };
}

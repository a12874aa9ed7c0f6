import { describe, expect, it } from 'vitest';
import { baseOf, completedBy, placeOf, positionIn, TILE_WIDTH } from '../src/transparency/tiles';

/** The tile layout of the stored log tree (tiles.ts), against a tile built node by node. */
describe('log tree tiles', () => {
  /** Node names in the order a tile completes them, appending its 16 lowest nodes one by one. */
  const completionOrder = () => {
    const order: string[] = [];
    for (let base = 1; base <= TILE_WIDTH; base++)
      for (let height = 0; height < 4 && base % 2 ** height === 0; height++)
        order.push(`${height}:${base / 2 ** height - 1}`);
    return order;
  };

  it('puts each of the 30 nodes where it completes, and counts them at every width', () => {
    const order = completionOrder();
    expect(order).toHaveLength(30);
    for (const [position, name] of order.entries()) {
      const [height, k] = name.split(':').map(Number) as [number, number];
      expect(positionIn(height, k), name).toBe(position);
    }
    let nodes = 0;
    for (let base = 0; base <= TILE_WIDTH; base++) {
      nodes = order.filter((name) => {
        const [height, k] = name.split(':').map(Number) as [number, number];
        return (k + 1) * 2 ** height <= base;
      }).length;
      expect(completedBy(base), `width ${base}`).toBe(nodes);
      expect(baseOf(nodes)).toBe(base);
    }
    expect(baseOf(2)).toBeUndefined(); // two nodes: the first's parent would be missing
  });

  it('finds a node of level 4 and up in one tile, and one below in its 16-entry block', () => {
    expect(placeOf(4, 0)).toEqual({ tileLevel: 4, tileIndex: 0, offset: 0, count: 1 });
    expect(placeOf(5, 0)).toEqual({ tileLevel: 4, tileIndex: 0, offset: 2, count: 1 });
    expect(placeOf(7, 1)).toEqual({ tileLevel: 4, tileIndex: 0, offset: 29, count: 1 });
    expect(placeOf(4, 16)).toEqual({ tileLevel: 4, tileIndex: 1, offset: 0, count: 1 });
    expect(placeOf(8, 3)).toEqual({ tileLevel: 8, tileIndex: 0, offset: 4, count: 1 });
    // Entries 33..40 (0-based 32..39) are the first half of block 2.
    expect(placeOf(3, 4)).toEqual({ tileLevel: 0, tileIndex: 2, offset: 0, count: 8 });
    expect(placeOf(0, 37)).toEqual({ tileLevel: 0, tileIndex: 2, offset: 5, count: 1 });
  });
});

import { createHash } from 'node:crypto';
import { type Database, migrate, openDatabase, rowsOf } from '@quittance/db';
import {
  consistencyPath,
  inclusionPath,
  merkleRoot,
  verifyConsistency,
  verifyInclusion,
} from '@quittance/format';
import { createTestDatabase, type TestDatabase } from '@quittance/test-tooling';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inclusionHashesSql, LogTree } from '../src/transparency/log-tree';

/**
 * The stored log tree (tiles of 16 nodes, SPEC §6.1) on both drivers, without the API: what
 * it stores as a log grows checkpoint by checkpoint, and that every proof made from it
 * verifies against the root of all entries (RFC 9162), whether its tiles were filled ahead or
 * on the proof's demand.
 */
describe.each([
  ['PostgreSQL', false],
  ['PGlite', true],
])('log tree on %s', (_name, embedded) => {
  let test: TestDatabase | undefined;
  let database: Database;
  let tree: LogTree;
  beforeAll(async () => {
    test = embedded ? undefined : await createTestDatabase();
    database = await openDatabase({ url: test?.url });
    await migrate(database.db);
    tree = new LogTree(database.db);
  });
  afterAll(async () => {
    await database?.close();
    await test?.drop();
  });

  let merchants = 0;
  /** A merchant whose chain holds `n` entries (receipt rows with only what the tree reads). */
  const merchantWith = async (n: number) => {
    const merchantId = `lt${++merchants}`;
    await database.db.execute(
      sql`insert into merchants (id, jurisdiction) values (${merchantId}, 'EU')`,
    );
    const entries = Array.from({ length: n }, (_, i) =>
      createHash('sha256')
        .update(`${merchantId} ${i + 1}`)
        .digest('hex'),
    );
    await append(merchantId, entries, 0);
    return { merchantId, entries };
  };
  const append = async (merchantId: string, entries: string[], from: number) => {
    for (let at = from; at < entries.length; at += 5_000) {
      const rows = entries.slice(at, Math.min(entries.length, at + 5_000)).map(
        (entry, i) =>
          sql`(${`trcpt_${merchantId}_${at + i + 1}`}, ${merchantId}, ${at + i + 1}::bigint,
            ${`c${at + i + 1}`}, 'agent-1', 'checkout', 'complete_checkout', now(), 'k', '{}',
            'x..y', '', '', ${entry}, '')`,
      );
      await database.db.execute(sql`insert into receipts (id, merchant_id, seq, call_id,
        agent_id, bucket, tool, created_at, signing_key_kid, signed, jws, receipt_hash,
        prev_hash, entry_hash, content_hash) values ${sql.join(rows, sql`, `)}`);
    }
  };
  const tilesOf = async (merchantId: string) =>
    rowsOf<{ tile: string }>(
      await database.db.execute(sql`select level || ':' || index || '×' || octet_length(hashes) / 32
        as tile from log_subtrees where merchant_id = ${merchantId} order by level, index`),
    ).map((r) => r.tile);
  const inclusion = async (merchantId: string, seq: number, size: number) => {
    const path = (root: Parameters<typeof inclusionPath>[2]) => inclusionPath(seq, size, root);
    return path(await tree.rootsFor(merchantId, path));
  };
  /**
   * inclusion, checking on the way that the hashes the receipt's statement reads with it
   * (inclusionHashesSql) hold the whole proof: the same path, with no statement of its own.
   */
  const inclusionInOne = async (merchantId: string, seq: number, size: number) => {
    const auditPath = await inclusion(merchantId, seq, size);
    const [read] = await database.rawQuery<{ nodes: string | null; entries: string | null }>(
      `select * from (${inclusionHashesSql('$2::bigint', '$3::bigint')}) h`,
      [merchantId, seq, size],
    );
    let statements = 0;
    const counted = new LogTree(database.db, (text, params) => {
      statements++;
      return database.rawQuery(text, params);
    });
    const path = (root: Parameters<typeof inclusionPath>[2]) => inclusionPath(seq, size, root);
    const hashes = {
      nodes: JSON.parse(read?.nodes ?? '{}'),
      entries: JSON.parse(read?.entries ?? '{}'),
    };
    expect(
      await path(await counted.rootsFor(merchantId, path, hashes)),
      `seq ${seq} of ${size}`,
    ).toEqual(auditPath);
    expect(statements, `statements for seq ${seq} of ${size}`).toBe(0);
    return auditPath;
  };
  const consistency = async (merchantId: string, from: number, to: number) => {
    const path = (root: Parameters<typeof consistencyPath>[2]) => consistencyPath(from, to, root);
    return path(await tree.rootsFor(merchantId, path));
  };

  it('every leaf of every tree of 1..70 entries proves its inclusion, filled checkpoint by checkpoint', async () => {
    const { merchantId, entries } = await merchantWith(70);
    for (let size = 1; size <= 70; size++) {
      await tree.fill(merchantId, size);
      const rootHash = await merkleRoot(entries.slice(0, size));
      expect(await tree.root(merchantId, size)).toBe(rootHash);
      for (let seq = 1; seq <= size; seq++) {
        const auditPath = await inclusionInOne(merchantId, seq, size);
        const entryHash = entries[seq - 1] as string;
        expect(
          await verifyInclusion({ entryHash, seq, treeSize: size, auditPath, rootHash }),
          `seq ${seq} of ${size}`,
        ).toEqual({ ok: true });
      }
    }
    // 70 entries: four level-4 nodes in one partial tile, with the 2 + 1 above them.
    expect(await tilesOf(merchantId)).toEqual(['4:0×7']);
  }, 120_000);

  it('consistency between every pair of sizes up to 40 verifies', async () => {
    const { merchantId, entries } = await merchantWith(40);
    await tree.fill(merchantId, 40);
    const roots = [''];
    for (let n = 1; n <= 40; n++) roots.push(await merkleRoot(entries.slice(0, n)));
    for (let to = 1; to <= 40; to++)
      for (let from = 1; from <= to; from++) {
        const proof = await consistency(merchantId, from, to);
        expect(
          await verifyConsistency({
            from,
            to,
            fromRoot: roots[from] as string,
            toRoot: roots[to] as string,
            proof,
          }),
          `${from} → ${to}`,
        ).toEqual({ ok: true });
      }
  }, 120_000);

  it('a log grown by uneven checkpoints to 70,000 entries: tiles at levels 4..16, proofs verify at each size', async () => {
    const { merchantId, entries } = await merchantWith(0);
    const all = Array.from({ length: 70_000 }, (_, i) =>
      createHash('sha256').update(`big ${i}`).digest('hex'),
    );
    let size = 0;
    let previous: { size: number; root: string } | undefined;
    for (const next of [1, 17, 255, 256, 4_097, 4_111, 65_535, 65_536, 70_000]) {
      entries.push(...all.slice(size, next));
      await append(merchantId, entries, size);
      size = next;
      await tree.fill(merchantId, size);
      const rootHash = await merkleRoot(entries);
      expect(await tree.root(merchantId, size)).toBe(rootHash);
      for (const seq of new Set([1, 2, 16, 17, size, size - 1, Math.ceil(size / 3)])) {
        if (seq < 1 || seq > size) continue;
        const auditPath = await inclusionInOne(merchantId, seq, size);
        const entryHash = entries[seq - 1] as string;
        expect(
          await verifyInclusion({ entryHash, seq, treeSize: size, auditPath, rootHash }),
          `seq ${seq} of ${size}`,
        ).toEqual({ ok: true });
      }
      if (previous) {
        const proof = await consistency(merchantId, previous.size, size);
        expect(
          await verifyConsistency({
            from: previous.size,
            to: size,
            fromRoot: previous.root,
            toRoot: rootHash,
            proof,
          }),
        ).toEqual({ ok: true });
      }
      previous = { size, root: rootHash };
    }
    const tiles = await tilesOf(merchantId);
    // 70,000 entries: 4,375 level-4 nodes in 273 full tiles of 30 hashes and one of 7 (+ 3 +
    // 1 above), 273 level-8 nodes in 18 tiles (the last of 1), 17 level-12 nodes in 2 tiles,
    // one level-16 node.
    expect(tiles.filter((t) => t.startsWith('4:'))).toHaveLength(274);
    expect(tiles.filter((t) => t.endsWith('×30'))).toHaveLength(273 + 17 + 1);
    expect(tiles).toContain('4:273×11');
    expect(tiles.filter((t) => t.startsWith('8:'))).toHaveLength(18);
    expect(tiles).toContain('8:17×1');
    expect(tiles.filter((t) => t.startsWith('12:'))).toEqual(['12:0×30', '12:1×1']);
    expect(tiles.filter((t) => t.startsWith('16:'))).toEqual(['16:0×1']);
  }, 240_000);

  it('a tree without tiles (made before they were kept) is filled by its first proof', async () => {
    const { merchantId, entries } = await merchantWith(1_000);
    expect(await tilesOf(merchantId)).toEqual([]);
    const rootHash = await merkleRoot(entries);
    const auditPath = await inclusion(merchantId, 500, 1_000);
    expect(
      await verifyInclusion({
        entryHash: entries[499] as string,
        seq: 500,
        treeSize: 1_000,
        auditPath,
        rootHash,
      }),
    ).toEqual({ ok: true });
    // 62 level-4 nodes: three full tiles, one of 14 (+ 7 + 3 + 1); 3 level-8 nodes (+ 1).
    expect(await tilesOf(merchantId)).toEqual(['4:0×30', '4:1×30', '4:2×30', '4:3×25', '8:0×4']);
  });

  it('racing fillers store each tile once and never shorten one; a missing entry stops a fill', async () => {
    const { merchantId, entries } = await merchantWith(5_000);
    await Promise.all([
      tree.fill(merchantId, 3_000),
      tree.fill(merchantId, 5_000),
      new LogTree(database.db).fill(merchantId, 5_000),
      tree.fill(merchantId, 100),
    ]);
    expect(await tree.root(merchantId, 5_000)).toBe(await merkleRoot(entries));
    // 312 level-4 nodes: the 20th tile holds 8 (+ 4 + 2 + 1).
    expect(await tilesOf(merchantId)).toContain('4:19×15');
    const { merchantId: gappy } = await merchantWith(40);
    await database.db.execute(sql`delete from receipts where merchant_id = ${gappy} and seq = 20`);
    await tree.fill(gappy, 16);
    await expect(tree.fill(gappy, 40)).rejects.toThrow(/entries 17..32 are missing/);
    expect(await tilesOf(gappy)).toEqual(['4:0×1']);
  });
});

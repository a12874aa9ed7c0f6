/**
 * The log tree (SPEC §6.1) against the independent known answers of
 * `../shared/conformance/merkle/vectors.json` (a sibling of the checkout, never edited here),
 * then generation against verification over every small tree, then hostile input.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  appendToFrontier,
  consistencyProof,
  inclusionProof,
  merkleFrontier,
  merkleLeafHash,
  merkleRoot,
  rootFromFrontier,
  verifyConsistency,
  verifyInclusion,
} from '../src';

interface Vectors {
  entryHashes: string[];
  roots: string[];
  frontiers: Record<string, string[]>;
  inclusion: { seq: number; treeSize: number; auditPath: string[] }[];
  consistency: { from: number; to: number; proof: string[] }[];
}

const vectors = JSON.parse(
  readFileSync(
    resolve(import.meta.dirname, '../../../../shared/conformance/merkle/vectors.json'),
    'utf8',
  ),
) as Vectors;
const entries = vectors.entryHashes;
const rootOf = (n: number) => vectors.roots[n - 1] as string;

/** A different valid hash: the first hex digit changed. */
const flip = (hex: string) => (hex[0] === '0' ? '1' : '0') + hex.slice(1);

/** Deterministic entry hashes for property tests. */
const made = Array.from({ length: 70 }, (_, i) =>
  createHash('sha256')
    .update(`entry ${i + 1}`)
    .digest('hex'),
);

/** The RFC 9162 §2.1.1 definition as written (recursive), as an independent oracle. */
function mth(list: string[]): string {
  const h = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
  const go = (d: string[]): Buffer => {
    if (d.length === 1) return h(Buffer.from([0]), Buffer.from(d[0] as string, 'hex'));
    let k = 1;
    while (k * 2 < d.length) k *= 2;
    return h(Buffer.from([1]), go(d.slice(0, k)), go(d.slice(k)));
  };
  return go(list).toString('hex');
}

describe('SPEC §6.1 conformance vectors', () => {
  it('has 13 entries, their roots and every frontier', () => {
    expect(entries).toHaveLength(13);
    expect(vectors.roots).toHaveLength(13);
    expect(Object.keys(vectors.frontiers)).toHaveLength(14);
    expect(vectors.inclusion.length).toBeGreaterThan(0);
    expect(vectors.consistency.length).toBeGreaterThan(0);
  });

  it('reproduces rootHash(n) for n = 1..13', async () => {
    for (let n = 1; n <= 13; n++)
      expect(await merkleRoot(entries.slice(0, n)), `n=${n}`).toBe(rootOf(n));
  });

  it('rootHash(1) is the leaf hash of entry 1', async () => {
    expect(await merkleLeafHash(entries[0] as string)).toBe(rootOf(1));
  });

  it('reproduces every frontier, folds each to its root, and extends each by appending', async () => {
    for (const [size, frontier] of Object.entries(vectors.frontiers)) {
      const n = Number(size);
      expect(await merkleFrontier(entries.slice(0, n)), `frontier ${n}`).toEqual(frontier);
      if (n > 0) expect(await rootFromFrontier(frontier), `fold ${n}`).toBe(rootOf(n));
      for (let m = n; m <= 13; m++) {
        expect(await appendToFrontier(frontier, n, entries.slice(n, m)), `${n} + ${m - n}`).toEqual(
          vectors.frontiers[String(m)],
        );
      }
    }
  });

  it.each(vectors.inclusion)('inclusion of $seq in $treeSize', async (v) => {
    expect(await inclusionProof(entries, v.seq, v.treeSize)).toEqual(v.auditPath);
    const input = {
      entryHash: entries[v.seq - 1] as string,
      seq: v.seq,
      treeSize: v.treeSize,
      auditPath: v.auditPath,
      rootHash: rootOf(v.treeSize),
    };
    expect(await verifyInclusion(input)).toEqual({ ok: true });
    // Any one hash changed: each path hash, the entry, the root.
    for (const [i, hash] of v.auditPath.entries()) {
      const auditPath = v.auditPath.with(i, flip(hash));
      expect((await verifyInclusion({ ...input, auditPath })).ok, `path[${i}]`).toBe(false);
    }
    expect((await verifyInclusion({ ...input, entryHash: flip(input.entryHash) })).ok).toBe(false);
    expect((await verifyInclusion({ ...input, rootHash: flip(input.rootHash) })).ok).toBe(false);
    // Another leaf, a hash dropped or added.
    if (v.treeSize > 1) {
      const other = v.seq === 1 ? 2 : v.seq - 1;
      expect((await verifyInclusion({ ...input, seq: other })).ok).toBe(false);
    }
    // (treeSize alone is not bound by the path: leaves left of the last split prove the same
    // way in a larger tree. The signed checkpoint binds it, as seq = treeSize.)
    if (v.auditPath.length > 0)
      expect((await verifyInclusion({ ...input, auditPath: v.auditPath.slice(1) })).ok).toBe(false);
    expect((await verifyInclusion({ ...input, auditPath: [...v.auditPath, rootOf(1)] })).ok).toBe(
      false,
    );
  });

  it.each(vectors.consistency)('consistency from $from to $to', async (v) => {
    expect(await consistencyProof(entries, v.from, v.to)).toEqual(v.proof);
    const input = {
      from: v.from,
      to: v.to,
      fromRoot: rootOf(v.from),
      toRoot: rootOf(v.to),
      proof: v.proof,
    };
    expect(await verifyConsistency(input)).toEqual({ ok: true });
    for (const [i, hash] of v.proof.entries()) {
      const proof = v.proof.with(i, flip(hash));
      expect((await verifyConsistency({ ...input, proof })).ok, `proof[${i}]`).toBe(false);
    }
    expect((await verifyConsistency({ ...input, fromRoot: flip(input.fromRoot) })).ok).toBe(false);
    expect((await verifyConsistency({ ...input, toRoot: flip(input.toRoot) })).ok).toBe(false);
    if (v.proof.length > 0)
      expect((await verifyConsistency({ ...input, proof: v.proof.slice(1) })).ok).toBe(false);
    expect((await verifyConsistency({ ...input, proof: [...v.proof, rootOf(1)] })).ok).toBe(false);
  });
});

describe('generation against verification', () => {
  it('roots and frontiers of sizes 0..70 match the recursive RFC definition', async () => {
    expect(await merkleRoot([])).toBe(createHash('sha256').digest('hex'));
    let frontier: string[] = [];
    for (let n = 1; n <= 70; n++) {
      const root = await merkleRoot(made.slice(0, n));
      expect(root, `n=${n}`).toBe(mth(made.slice(0, n)));
      frontier = await appendToFrontier(frontier, n - 1, [made[n - 1] as string]);
      expect(frontier).toEqual(await merkleFrontier(made.slice(0, n)));
      expect(frontier).toHaveLength(n.toString(2).replace(/0/g, '').length);
      expect(await rootFromFrontier(frontier)).toBe(root);
    }
  });

  it('every leaf of every tree of 1..70 entries proves its inclusion, and only there', async () => {
    for (let n = 1; n <= 70; n++) {
      const rootHash = await merkleRoot(made.slice(0, n));
      for (let seq = 1; seq <= n; seq++) {
        const auditPath = await inclusionProof(made, seq, n);
        const input = { entryHash: made[seq - 1] as string, seq, treeSize: n, auditPath, rootHash };
        expect(await verifyInclusion(input), `${seq} in ${n}`).toEqual({ ok: true });
        if (n > 1) {
          const wrong = { ...input, entryHash: made[seq % n] as string };
          expect((await verifyInclusion(wrong)).ok, `${seq} in ${n}, other entry`).toBe(false);
        }
      }
    }
  });

  it('every pair of sizes 1 ≤ m ≤ n ≤ 40 is consistent, and a rewrite is caught', async () => {
    const roots = [''];
    for (let n = 1; n <= 40; n++) roots.push(await merkleRoot(made.slice(0, n)));
    const rewritten = made.with(0, flip(made[0] as string));
    for (let n = 1; n <= 40; n++) {
      const forkedRoot = await merkleRoot(rewritten.slice(0, n));
      for (let m = 1; m <= n; m++) {
        const proof = await consistencyProof(made, m, n);
        const input = { from: m, to: n, fromRoot: roots[m] as string, toRoot: roots[n] as string };
        expect(await verifyConsistency({ ...input, proof }), `${m} → ${n}`).toEqual({ ok: true });
        // The same proof cannot link the old tree to a log whose first entry was rewritten.
        expect((await verifyConsistency({ ...input, proof, toRoot: forkedRoot })).ok).toBe(false);
        // Nor be replayed between other sizes.
        if (m < n)
          expect((await verifyConsistency({ ...input, from: m + 1, proof })).ok).toBe(false);
      }
    }
  });
});

describe('hostile input never throws from a verifier', () => {
  const good = {
    entryHash: entries[5] as string,
    seq: 6,
    treeSize: 13,
    auditPath: vectors.inclusion.find((v) => v.seq === 6 && v.treeSize === 13)?.auditPath ?? [],
    rootHash: rootOf(13),
  };

  it('rejects malformed inclusion inputs with a reason', async () => {
    const bad: unknown[] = [
      { ...good, seq: 0 },
      { ...good, seq: 14 },
      { ...good, seq: -1 },
      { ...good, seq: 1.5 },
      { ...good, seq: '6' },
      { ...good, treeSize: 0 },
      { ...good, treeSize: 2 ** 53 },
      { ...good, seq: 2 ** 53 - 1, treeSize: 2 ** 53 - 1 },
      { ...good, treeSize: Number.NaN },
      { ...good, treeSize: Number.POSITIVE_INFINITY },
      { ...good, entryHash: good.entryHash.slice(2) },
      { ...good, entryHash: good.entryHash.toUpperCase() },
      { ...good, entryHash: null },
      { ...good, rootHash: `${good.rootHash}00` },
      { ...good, auditPath: 'nope' },
      { ...good, auditPath: null },
      { ...good, auditPath: [1, 2] },
      { ...good, auditPath: [...good.auditPath.slice(0, 3), 'zz'] },
      { ...good, auditPath: Array(10_000).fill(good.rootHash) },
      { ...good, auditPath: Array(64).fill(good.rootHash) },
      { ...good, auditPath: [] },
      null,
      undefined,
      {},
    ];
    for (const input of bad) {
      const result = await verifyInclusion(input as never);
      expect(result.ok, JSON.stringify(input)?.slice(0, 120)).toBe(false);
      if (!result.ok) expect(result.reason).toEqual(expect.any(String));
    }
  });

  it('rejects malformed consistency inputs with a reason', async () => {
    const v = vectors.consistency.find(
      (c) => c.from === 7 && c.to === 13,
    ) as Vectors['consistency'][0];
    const ok = { from: 7, to: 13, fromRoot: rootOf(7), toRoot: rootOf(13), proof: v.proof };
    expect(await verifyConsistency(ok)).toEqual({ ok: true });
    const bad: unknown[] = [
      { ...ok, from: 0 },
      { ...ok, from: 14 },
      { ...ok, to: 0 },
      { ...ok, from: 13, to: 7 },
      { ...ok, to: 2 ** 60 },
      { ...ok, from: 2 ** 53 - 2, to: 2 ** 53 - 1 },
      { ...ok, proof: [] },
      { ...ok, proof: 'x' },
      { ...ok, proof: [...v.proof, 5] },
      { ...ok, proof: Array(100_000).fill(rootOf(1)) },
      { ...ok, proof: Array(64).fill(rootOf(1)) },
      { ...ok, fromRoot: 'ab' },
      { ...ok, toRoot: undefined },
      { from: 5, to: 5, fromRoot: rootOf(5), toRoot: rootOf(6), proof: [] },
      { from: 5, to: 5, fromRoot: rootOf(5), toRoot: rootOf(5), proof: [rootOf(1)] },
      null,
      {},
    ];
    for (const input of bad) {
      const result = await verifyConsistency(input as never);
      expect(result.ok, JSON.stringify(input)?.slice(0, 120)).toBe(false);
    }
  });

  it('generators refuse impossible ranges and malformed entries with RangeError', async () => {
    await expect(inclusionProof(entries, 0, 5)).rejects.toThrow(RangeError);
    await expect(inclusionProof(entries, 6, 5)).rejects.toThrow(RangeError);
    await expect(inclusionProof(entries, 1, 14)).rejects.toThrow(RangeError);
    await expect(consistencyProof(entries, 0, 5)).rejects.toThrow(RangeError);
    await expect(consistencyProof(entries, 6, 5)).rejects.toThrow(RangeError);
    await expect(merkleRoot(['00'])).rejects.toThrow(RangeError);
    await expect(appendToFrontier([], 1, [])).rejects.toThrow(RangeError);
    await expect(appendToFrontier([rootOf(1)], -1, [])).rejects.toThrow(RangeError);
    await expect(rootFromFrontier(['xyz'])).rejects.toThrow(RangeError);
  });
});

import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Checkpoint,
  inclusionProof,
  merkleFrontier,
  merkleRoot,
  planCheckpointSignature,
} from '@quittance/format';
import { LocalSigner, signPlan } from '@quittance/signer';
import { verifyBundle } from '@quittance/verifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toReceiptLine, writeEvidenceBundle } from '../src/index';
import { type Fixture, makeFixture } from './fixture';
import { extractAll, zipEntries } from './zip-tools';

let f: Fixture;
beforeAll(async () => {
  // Six receipts (orders 0, 1, 2 of two each), checkpoints at seq 1, 3, 4 and 6.
  f = await makeFixture({ receipts: 6, checkpointSeqs: [1, 3, 4, 6] });
});
afterAll(() => rm(f.dir, { recursive: true, force: true }));

const verify = (path: string) => verifyBundle(path, { publisher: f.publisher, keepReceipts: true });
let serial = 0;
const name = (what: string) => `${what}-${++serial}.zip`;

/** A bundle with entries replaced (or removed, with `null`) after it was written. */
async function edited(path: string, changes: Record<string, string | null>) {
  const entries = (await extractAll(path)) as [string, Buffer][];
  const out = join(f.dir, name('edited'));
  await zipEntries(
    out,
    entries
      .filter(([n]) => changes[n] !== null)
      .map(([n, data]) => [n, typeof changes[n] === 'string' ? Buffer.from(changes[n]) : data]),
  );
  return out;
}
const entryText = async (path: string, entry: string) =>
  ((await extractAll(path)) as [string, Buffer][]).find(([n]) => n === entry)?.[1].toString() ?? '';

describe('log.json and log_consistent (SPEC 1.1 §9, §10)', () => {
  it('a range from seq 1: size 0, empty frontier; every checkpoint recomputes', async () => {
    const log = JSON.parse(await entryText(f.path, 'log.json'));
    expect(log).toEqual({ size: 0, frontier: [] });
    const manifest = JSON.parse(await entryText(f.path, 'manifest.json'));
    expect(manifest.files.map((file: { path: string }) => file.path)).toContain('log.json');
    expect(await entryText(f.path, 'VERIFY.md')).toContain('log.json');
    const result = await verify(f.path);
    expect(result.ok).toBe(true);
    expect(result.kind).toBe('export');
    expect(result.claims.log_consistent).toMatchObject({
      status: 'asserted',
      reason: expect.stringContaining('the rootHash of 4 checkpoints recomputes'),
    });
    expect(result.claims.checkpoints_valid?.status).toBe('asserted');
  });

  it('a later range: the frontier of entries 1..s − 1; checkpoints before it are named, not refuted', async () => {
    // Range from seq 4: chain.jsonl holds 3..6; log.json the 3 entries before (odd: the last
    // frontier hash is entry 3's leaf). Checkpoint 3 recomputes from the frontier alone.
    const path = await f.writeExport(name('later'), {
      firstSeq: 4,
      checkpoints: () => f.checkpoints,
    });
    const log = JSON.parse(await entryText(path, 'log.json'));
    expect(log).toEqual({
      size: 3,
      frontier: await merkleFrontier(f.chain.slice(0, 3).map((e) => e.entryHash)),
    });
    expect(log.frontier).toHaveLength(2);
    const chainSeqs = (await entryText(path, 'chain.jsonl'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).seq);
    expect(chainSeqs).toEqual([3, 4, 5, 6]);
    const result = await verify(path);
    expect(result.ok).toBe(true);
    expect(result.claims.log_consistent).toMatchObject({
      status: 'asserted',
      reason: expect.stringMatching(
        /rootHash of 3 checkpoints recomputes from log.json \(size 3\).*1 checkpoint \(seq 1\) lie outside/,
      ),
    });
  });

  it('only checkpoints outside the range: unknown, with the reason', async () => {
    const path = await f.writeExport(name('outside'), {
      firstSeq: 5,
      checkpoints: () => f.checkpoints.filter((c) => c.seq < 4),
    });
    const result = await verify(path);
    expect(result.claims.log_consistent).toMatchObject({
      status: 'unknown',
      reason: expect.stringContaining(
        'no checkpoint to recompute: 2 checkpoints (seq 1, 3) lie outside',
      ),
    });
    const none = await verify(await f.writeExport(name('none'), { checkpoints: () => [] }));
    expect(none.claims.log_consistent?.status).toBe('unknown');
  });

  it('an altered frontier is refuted (the manifest signs it: nothing else is wrong)', async () => {
    const path = await f.writeExport(name('frontier'), {
      firstSeq: 4,
      log: (log) => ({ ...log, frontier: [log.frontier[0] as string, 'e'.repeat(64)] }),
    });
    const result = await verify(path);
    expect(result.ok).toBe(false);
    expect(result.claims.files_intact?.status).toBe('asserted');
    expect(result.claims.manifest_valid?.status).toBe('asserted');
    expect(result.claims.chain_complete?.status).toBe('asserted');
    expect(result.claims.log_consistent).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('does not end with the leaf of chain entry 3'),
    });
    expect(result.claims.log_consistent?.reason).toMatch(/checkpoint at seq 4 signs rootHash/);

    // Even size: no leaf to compare, the roots alone refute it.
    const even = await f.writeExport(name('frontier-even'), {
      firstSeq: 5,
      log: () => ({ size: 4, frontier: ['d'.repeat(64)] }),
    });
    const evenResult = await verify(even);
    expect(evenResult.claims.log_consistent).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('the checkpoint at seq 6 signs rootHash'),
    });
  });

  it('a checkpoint whose rootHash is wrong but signed by the merchant key: log_consistent refuted', async () => {
    const path = await f.writeExport(name('root'), {
      checkpoints: (checkpoints) =>
        Promise.all(
          checkpoints.map((c) =>
            c.seq === 4
              ? f.signCheckpoint({
                  merchantId: c.merchantId,
                  seq: c.seq,
                  entryHash: c.entryHash,
                  rootHash: 'a'.repeat(64),
                  createdAt: c.createdAt,
                  signingKeyKid: c.signingKeyKid,
                })
              : c,
          ),
        ),
    });
    const result = await verify(path);
    expect(result.ok).toBe(false);
    expect(result.claims.checkpoints_valid?.status).toBe('asserted');
    expect(result.claims.files_intact?.status).toBe('asserted');
    expect(result.claims.log_consistent).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('the checkpoint at seq 4 signs rootHash aaaaaaaaaaaa…'),
    });
  });

  it('a log.json size that does not meet the first chain entry is refuted', async () => {
    // Range from 1 (chain from seq 1), log.json claiming 2 entries before it.
    const frontier = [await merkleRoot(f.chain.slice(0, 2).map((e) => e.entryHash))];
    const path = await f.writeExport(name('size'), { log: () => ({ size: 2, frontier }) });
    const result = await verify(path);
    expect(result.claims.files_intact?.status).toBe('asserted');
    expect(result.claims.log_consistent).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining(
        "log.json's size 2 does not meet chain.jsonl, which starts at seq 1",
      ),
    });
    expect(result.claims.log_consistent?.reason).toContain(
      "size 2 is not the size of the log before the range's first entry (seq 1)",
    );
  });

  it('log.json missing, not JSON, or with a frontier that does not fit its size', async () => {
    for (const [content, reason] of [
      [null, 'log.json is missing'],
      ['{"size": 1', 'log.json is not JSON'],
      ['{"size": 3, "frontier": []}', 'a tree of 3 entries has 2 (one per set bit'],
      [`{"size": 1, "frontier": ["${'A'.repeat(64)}"]}`, 'other than 64 lowercase hex'],
      ['[]', 'log.json is not {"size"'],
    ] as const) {
      const result = await verify(await edited(f.path, { 'log.json': content }));
      expect(result.ok).toBe(false);
      expect(result.claims.log_consistent).toMatchObject({
        status: 'refuted',
        reason: expect.stringContaining(reason),
      });
      expect(result.claims.files_intact?.status).toBe('refuted');
    }
  });

  it('checkpoints_valid requires a well-formed rootHash', async () => {
    const path = await f.writeExport(name('no-root'), {
      checkpoints: (checkpoints) =>
        checkpoints.map((c, i) => {
          if (i !== 0) return c;
          const { rootHash: _, ...rest } = c;
          return rest as Checkpoint;
        }),
    });
    const result = await verify(path);
    expect(result.claims.checkpoints_valid).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('rootHash'),
    });
  });
});

describe('order evidence bundles (SPEC 1.1 §9.1)', () => {
  it('verifies: each receipt of the order included in the log as of one signed checkpoint', async () => {
    const path = await f.writeEvidence(name('evidence'));
    const entries = ((await extractAll(path)) as [string, Buffer][]).map(([n]) => n).sort();
    expect(entries).toEqual([
      'VERIFY.md',
      'bodies.jsonl',
      'checkpoints.jsonl',
      'jwks/2026-11.json',
      'manifest.json',
      'manifest.jws',
      'proofs.jsonl',
      'receipts.jsonl',
    ]);
    // Exactly a detached compact JWS, as VERIFY.md says: no newline for a JOSE library to trip on.
    expect(await entryText(path, 'manifest.jws')).toMatch(/^[\w-]+\.\.[\w-]+$/);
    const manifest = JSON.parse(await entryText(path, 'manifest.json'));
    expect(manifest).toMatchObject({
      kind: 'order-evidence',
      orderId: 'order-1',
      merchantId: f.merchantId,
      checkpoint: { seq: 6, rootHash: f.checkpoints.at(-1)?.rootHash },
      counts: { receipts: 2, proofs: 2, checkpoints: 1, snapshots: 1, bodies: 1 },
      // SPEC §9.1: the same manifest as an export's, with its kind.
      jurisdiction: 'EU',
      retention: { years: 6, legalBasis: expect.stringContaining('six years') },
      range: { orderId: 'order-1', firstSeq: 3, lastSeq: 4 },
    });
    expect(Date.parse(manifest.range.from)).toBeLessThan(Date.parse(manifest.range.to));
    const proofs = (await entryText(path, 'proofs.jsonl'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(proofs.map((p) => Object.keys(p))).toEqual(
      Array(2).fill(['receiptId', 'seq', 'treeSize', 'auditPath', 'checkpoint']),
    );
    expect(proofs.map((p) => p.seq)).toEqual([3, 4]);
    expect(await entryText(path, 'VERIFY.md')).toContain('order **order-1**');
    expect(await entryText(path, 'VERIFY.md')).toContain('What the legal posture means here (EU)');

    const result = await verify(path);
    expect(result.ok).toBe(true);
    expect(result.kind).toBe('order-evidence');
    expect(result.orderId).toBe('order-1');
    expect(result.receiptCount).toBe(2);
    expect(Object.keys(result.claims).sort()).toEqual([
      'body_matches',
      'checkpoints_valid',
      'files_intact',
      'included_in_log',
      'manifest_valid',
      'snapshot_authentic',
    ]);
    for (const claim of Object.values(result.claims)) expect(claim.status).toBe('asserted');
    expect(result.claims.checkpoints_valid?.reason).toContain('the checkpoint at seq 6');
    expect(result.counts.included_in_log).toEqual({ asserted: 2, refuted: 0, unknown: 0 });
    expect(result.counts.signature_valid).toEqual({ asserted: 2, refuted: 0, unknown: 0 });
    // Receipt 4 follows receipt 3 in the bundle: its link is checked; 3's link needs the chain.
    expect(result.receipts.map((r) => r.claims.chain_linked.status)).toEqual([
      'unknown',
      'asserted',
    ]);

    const onWorkers = await verifyBundle(path, { publisher: f.publisher, workers: 1 });
    expect(onWorkers.ok).toBe(true);
    expect(onWorkers.counts.included_in_log?.asserted).toBe(2);
  });

  it('an altered audit path: included_in_log refuted for that receipt', async () => {
    const path = await f.writeEvidence(name('path'), {
      content: (content) => ({
        ...content,
        proofs: content.proofs.map((p, i) =>
          i === 1 ? { ...p, auditPath: ['0'.repeat(64), ...p.auditPath.slice(1)] } : p,
        ),
      }),
    });
    const result = await verify(path);
    expect(result.ok).toBe(false);
    expect(result.claims.files_intact?.status).toBe('asserted');
    expect(result.receipts[0]?.claims.included_in_log?.status).toBe('asserted');
    expect(result.receipts[1]?.claims.included_in_log).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('auditPath does not recompute rootHash for entry 4'),
    });
    expect(result.claims.included_in_log?.status).toBe('refuted');
  });

  it('a receipt removed from receipts.jsonl: files_intact refuted, its proof names no receipt', async () => {
    const good = await f.writeEvidence(name('remove-source'));
    const lines = (await entryText(good, 'receipts.jsonl')).trim().split('\n');
    const path = await edited(good, { 'receipts.jsonl': `${lines[1]}\n` });
    const result = await verify(path);
    expect(result.ok).toBe(false);
    expect(result.claims.files_intact).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('receipts.jsonl does not match its SHA-256'),
    });
    expect(result.claims.included_in_log).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('manifest counts 2 receipts, receipts.jsonl has 1'),
    });
  });

  it('proofs against a forged checkpoint (another key under the merchant kid) are refuted', async () => {
    // The forger builds a tree with one more entry and signs its root with a key of its own.
    const forger = LocalSigner.generate(f.merchant.kid);
    const entries = [...f.chain.map((e) => e.entryHash), 'f'.repeat(64)];
    const signed = {
      merchantId: f.merchantId,
      seq: entries.length,
      entryHash: 'f'.repeat(64),
      rootHash: await merkleRoot(entries),
      createdAt: '2026-11-20T10:30:00.000Z',
      signingKeyKid: f.merchant.kid,
    };
    const forged: Checkpoint = {
      ...signed,
      jws: (await signPlan(planCheckpointSignature(signed), forger)).jws,
      timestamp: null,
    };
    const path = await f.writeEvidence(name('forged'), {
      content: async (content) => ({
        ...content,
        checkpoint: forged,
        proofs: await Promise.all(
          content.proofs.map(async (p) => ({
            ...p,
            treeSize: forged.seq,
            auditPath: await inclusionProof(entries, p.seq, forged.seq),
          })),
        ),
      }),
    });
    const result = await verify(path);
    expect(result.ok).toBe(false);
    expect(result.claims.files_intact?.status).toBe('asserted');
    expect(result.claims.checkpoints_valid).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('signature_valid'),
    });
    expect(result.counts.included_in_log).toEqual({ asserted: 0, refuted: 2, unknown: 0 });
    expect(result.receipts[0]?.claims.included_in_log?.reason).toContain('signature');
  });

  it('a proof line whose checkpoint is not the bundle one is refuted', async () => {
    const good = await f.writeEvidence(name('other-cp-source'));
    const lines = (await entryText(good, 'proofs.jsonl')).trim().split('\n');
    const other = JSON.parse(lines[0] as string);
    const earlier = f.checkpoints.find((c) => c.seq === 4) as Checkpoint;
    other.checkpoint = earlier;
    other.treeSize = 4;
    other.auditPath = await inclusionProof(
      f.chain.map((e) => e.entryHash),
      other.seq,
      4,
    );
    const path = await edited(good, {
      'proofs.jsonl': `${JSON.stringify(other)}\n${lines[1]}\n`,
    });
    const result = await verify(path);
    expect(result.receipts[0]?.claims.included_in_log).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('against another checkpoint'),
    });
  });

  it('hostile lines in an evidence bundle refute the claim they are evidence for, never crash', async () => {
    const good = await f.writeEvidence(name('hostile-source'));
    const checkpoint = await entryText(good, 'checkpoints.jsonl');
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const cases: [Record<string, string | null>, string, string][] = [
      [
        { 'proofs.jsonl': `not json\nnull\n{"receiptId": 5}\n${deep}\n` },
        'included_in_log',
        'proofs.jsonl line 1 is not JSON',
      ],
      [{ 'proofs.jsonl': null }, 'included_in_log', 'manifest counts 2 proofs, 0 lines'],
      [
        { 'checkpoints.jsonl': `${checkpoint}${checkpoint}` },
        'checkpoints_valid',
        'holds one checkpoint',
      ],
      [{ 'checkpoints.jsonl': '' }, 'checkpoints_valid', 'has no checkpoint'],
      [
        { 'receipts.jsonl': `[]\n${deep}\n` },
        'included_in_log',
        'manifest counts 2 proofs, 0 lines',
      ],
    ];
    for (const [changes, claim, reason] of cases) {
      const result = await verify(await edited(good, changes));
      expect(result.ok).toBe(false);
      expect(result.kind).toBe('order-evidence');
      expect(result.claims[claim]).toMatchObject({
        status: 'refuted',
        reason: expect.stringContaining(reason),
      });
    }
    const manifest = JSON.parse(await entryText(good, 'manifest.json'));
    const unknownKind = await verify(
      await edited(good, { 'manifest.json': JSON.stringify({ ...manifest, kind: 'other' }) }),
    );
    expect(unknownKind.claims.manifest_valid?.reason).toContain('has kind "other"');
  });

  it('the writer refuses evidence that does not fit together', async () => {
    const receipts = f.receipts.filter((r) => r.orderId === 'order-1');
    const checkpoint = f.checkpoints.at(-1) as Checkpoint;
    const write = (proofs: Parameters<typeof writeEvidenceBundle>[2]['proofs']) =>
      writeEvidenceBundle(
        createWriteStream(join(f.dir, name('refused'))),
        {
          bundleId: 'evd_x',
          merchantId: f.merchantId,
          jurisdiction: 'EU',
          orderId: 'order-1',
          createdAt: '2026-11-21T00:00:00.000Z',
          includeBodies: false,
        },
        {
          receipts: receipts.map(toReceiptLine),
          proofs,
          checkpoint,
          snapshots: [],
        },
        async () => 'unused',
      );
    await expect(write([])).rejects.toThrow('2 receipts but 0 proofs');
    const proof = (r: (typeof receipts)[number], treeSize = checkpoint.seq) => ({
      receiptId: r.id,
      seq: r.chain.seq,
      treeSize,
      auditPath: [],
    });
    await expect(write(receipts.map((r) => proof(r, 5)))).rejects.toThrow(
      'not against the checkpoint at seq 6',
    );
    await expect(write([...receipts].reverse().map((r) => proof(r)))).rejects.toThrow(
      'is not receipt',
    );
    await expect(write(receipts.map((r) => proof(r)))).rejects.toThrow('no snapshot for 2026-11');
  });
});

import { LocalSigner } from '@quittance/signer';
import { publisherJwks } from '@quittance/test-tooling';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkCheckpoints } from '../../src/bundle/checkpoints';
import type { EvidenceManifest } from '../../src/bundle/layout';
import { readSnapshots } from '../../src/bundle/snapshots';
import { readTsaAnchors } from '../../src/bundle/tsa';
import { parsePublisherKeys } from '../../src/key-history';
import {
  type BundleData,
  contentsOf,
  exportFiles,
  type Files,
  makeData,
  PERIOD,
} from './make-bundle';

let data: BundleData;
let files: Files;
beforeAll(async () => {
  data = await makeData();
  files = await exportFiles(data);
});

describe('readSnapshots: snapshot_authentic and the key history', () => {
  it('the bundle’s snapshot, signed by the pinned publisher key', async () => {
    const read = await readSnapshots(await contentsOf(files), data.publisher);
    expect(read.claim).toMatchObject({
      status: 'asserted',
      reason: expect.stringContaining(`newest ${PERIOD} v1`),
    });
    expect(read.history.find(data.merchant.kid)?.merchantId).toBe('acme');
    expect(JSON.parse(read.newest as string).period).toBe(PERIOD);
  });

  it('another publisher pinned: refuted, the keys still read for the other claims', async () => {
    const other = parsePublisherKeys(
      await publisherJwks(LocalSigner.generate('quittance-publisher-1')),
    );
    const read = await readSnapshots(await contentsOf(files), other);
    expect(read.claim.status).toBe('refuted');
    expect(read.history.authentic.status).toBe('refuted');
  });

  it('no snapshot, one that is not JSON, not a snapshot, or under another period’s name', async () => {
    const name = `jwks/${PERIOD}.json`;
    const cases: [Files, string][] = [
      [{ ...files, [name]: undefined as never }, 'the bundle has no key snapshot'],
      [{ ...files, [name]: 'not json' }, 'is not JSON'],
      [{ ...files, [name]: '{"keys": []}' }, 'is not a key snapshot'],
      [
        { ...files, 'jwks/2026-12.json': data.snapshot },
        'jwks/2026-12.json holds period "2026-11"',
      ],
    ];
    for (const [bundle, reason] of cases) {
      const present = Object.fromEntries(Object.entries(bundle).filter(([, v]) => v !== undefined));
      const read = await readSnapshots(await contentsOf(present), data.publisher);
      expect(read.claim).toMatchObject({
        status: 'refuted',
        reason: expect.stringContaining(reason),
      });
    }
  });

  it('other names under jwks/ are not snapshots (files_intact judges them)', async () => {
    const read = await readSnapshots(
      await contentsOf({ ...files, 'jwks/notes.json': 'x', 'jwks/2026-11.json.bak': 'x' }),
      data.publisher,
    );
    expect(read.claim).toMatchObject({
      status: 'asserted',
      reason: expect.stringContaining('1 snapshots'),
    });
  });
});

describe('checkCheckpoints: checkpoints_valid', () => {
  const check = async (bundle: Files, evidence?: { manifest: EvidenceManifest | undefined }) => {
    const contents = await contentsOf(bundle);
    const { history } = await readSnapshots(contents, data.publisher);
    return checkCheckpoints(contents, history, await readTsaAnchors(contents, undefined), evidence);
  };
  const withCheckpoints = (checkpoints: unknown[]) => ({
    ...files,
    'checkpoints.jsonl': checkpoints.map((c) => `${JSON.stringify(c)}\n`).join(''),
  });

  it('two signed checkpoints: asserted, their roots and entries handed on', async () => {
    const read = await check(files);
    expect(read.claim).toMatchObject({
      status: 'asserted',
      reason: '2 checkpoints verify, each with a well-formed rootHash',
    });
    expect(read.roots.map((r) => r.seq)).toEqual([2, 4]);
    expect(read.entries.get(4)).toBe(data.chain[3]?.entryHash);
    // Without pinned TSA roots no checkpoint time is a proof.
    expect(read.proofs).toEqual([]);
  });

  it('none: unknown; a line that is not JSON, a member missing, a bad signature: refuted', async () => {
    expect((await check(withCheckpoints([]))).claim.status).toBe('unknown');
    const [first] = data.checkpoints;
    const { rootHash: _, ...noRoot } = first as object as { rootHash: string };
    const forged = await data.signCheckpoint(2);
    const cases: [Files, string][] = [
      [{ ...files, 'checkpoints.jsonl': '{"seq": 2,\n' }, 'line 1 is not JSON'],
      [withCheckpoints([noRoot]), 'is not a checkpoint'],
      [withCheckpoints([{ ...forged, rootHash: 'f'.repeat(64) }]), 'signature_valid'],
    ];
    for (const [bundle, reason] of cases) {
      const read = await check(bundle);
      expect(read.claim).toMatchObject({
        status: 'refuted',
        reason: expect.stringContaining(reason),
      });
    }
  });

  it('signed by a key the history lacks: unknown, not asserted', async () => {
    const [first] = data.checkpoints;
    const read = await check(withCheckpoints([{ ...first, signingKeyKid: data.stranger.kid }]));
    expect(read.claim.status).not.toBe('asserted');
  });

  it('an order evidence bundle: exactly one checkpoint, the one its manifest names, of its merchant', async () => {
    const manifest = {
      merchantId: 'acme',
      checkpoint: { seq: 4, rootHash: data.checkpoints[1]?.rootHash },
    } as EvidenceManifest;
    const one = await check(withCheckpoints([data.checkpoints[1]]), { manifest });
    expect(one.claim).toMatchObject({
      status: 'asserted',
      reason: expect.stringContaining('the checkpoint at seq 4'),
    });
    expect(one.evidenceCheckpoint).toContain('"seq":4');
    const two = await check(withCheckpoints(data.checkpoints), { manifest });
    expect(two.claim.reason).toContain('an order evidence bundle holds one checkpoint');
    const named = await check(withCheckpoints([data.checkpoints[0]]), { manifest });
    expect(named.claim.reason).toContain('the manifest names the checkpoint at seq 4');
    const other = await check(withCheckpoints([data.checkpoints[1]]), {
      manifest: { ...manifest, merchantId: 'globex' },
    });
    expect(other.claim.reason).toContain('the checkpoint is of merchant "acme"');
    const none = await check(withCheckpoints([]), { manifest: undefined });
    expect(none.claim).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('its proofs are against nothing'),
    });
  });
});

import { LocalSigner } from '@quittance/signer';
import { makeRevocation, makeSnapshot } from '@quittance/test-tooling';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkManifest, readManifest } from '../../src/bundle/manifest';
import { type KeyHistory, loadKeyHistory } from '../../src/key-history';
import {
  type BundleData,
  contentsOf,
  evidenceFiles,
  exportFiles,
  type Files,
  MERCHANT,
  makeData,
  seal,
} from './make-bundle';

let data: BundleData;
let files: Files;
let history: KeyHistory;
beforeAll(async () => {
  data = await makeData();
  files = await exportFiles(data);
  history = await loadKeyHistory(JSON.parse(data.snapshot), { publisher: data.publisher });
});

async function manifestOf(bundle: Files) {
  const contents = await contentsOf(bundle);
  const read = await readManifest(contents);
  return { read, claim: await checkManifest(contents, read, history) };
}

describe('readManifest', () => {
  it('an export manifest: kind export, usable', async () => {
    const { read, claim } = await manifestOf(await seal(data, files, 'export'));
    expect(read).toMatchObject({ kind: 'export', problem: '' });
    expect(read.manifest?.merchantId).toBe(MERCHANT);
    expect(claim).toMatchObject({ status: 'asserted', source: 'verifier_derived' });
    expect(claim.reason).toContain(`manifest signed by ${MERCHANT}'s key ${data.merchant.kid}`);
  });

  it('an order evidence manifest: kind order-evidence, its order', async () => {
    const { read, claim } = await manifestOf(
      await seal(data, await evidenceFiles(data), 'order-evidence'),
    );
    expect(read.kind).toBe('order-evidence');
    expect(read.evidence?.orderId).toBe('order-1');
    expect(claim.status).toBe('asserted');
  });

  it('missing, not JSON, duplicate members, another kind, no merchantId, createdAt or files: refuted, never thrown', async () => {
    const sealed = await seal(data, files, 'export');
    const text = sealed['manifest.json'] as string;
    const cases: [string | null, string][] = [
      [null, 'manifest.json is missing'],
      ['{"bundleId": ', 'manifest.json is not JSON'],
      [`{"merchantId":"x",${text.slice(1)}`, 'member "merchantId" occurs twice'],
      [JSON.stringify({ ...JSON.parse(text), kind: 'other' }), 'has kind "other"'],
      [JSON.stringify({ ...JSON.parse(text), merchantId: 7 }), 'merchantId must be a string'],
      [
        JSON.stringify({ ...JSON.parse(text), createdAt: 'yesterday' }),
        'createdAt must be an RFC 3339 time',
      ],
      [JSON.stringify({ ...JSON.parse(text), files: {} }), 'files must be an array'],
      [JSON.stringify([JSON.parse(text)]), 'not an object'],
    ];
    for (const [manifest, reason] of cases) {
      const bundle = { ...sealed };
      if (manifest === null) delete bundle['manifest.json'];
      else bundle['manifest.json'] = manifest;
      const { read, claim } = await manifestOf(bundle);
      expect(read.manifest).toBeUndefined();
      expect(read.problem).toContain(reason);
      expect(claim).toMatchObject({ status: 'refuted', reason: expect.stringContaining(reason) });
    }
  });

  it('without a usable manifest, a zip with proofs.jsonl and no chain.jsonl is taken for evidence', async () => {
    const bundle = await evidenceFiles(data);
    expect((await manifestOf(bundle)).read.kind).toBe('order-evidence');
    expect((await manifestOf(files)).read.kind).toBe('export');
  });
});

describe('checkManifest: the signature and key checks of a receipt, worded for the manifest', () => {
  const withJws = async (jws: string) => ({
    ...(await seal(data, files, 'export')),
    'manifest.jws': jws,
  });

  it('an altered manifest does not verify', async () => {
    const sealed = await seal(data, files, 'export');
    const altered = { ...JSON.parse(sealed['manifest.json'] as string), bundleId: 'exp_other' };
    const { claim } = await manifestOf({ ...sealed, 'manifest.json': JSON.stringify(altered) });
    expect(claim).toMatchObject({ status: 'refuted', reason: expect.stringContaining('altered') });
  });

  it('manifest.jws missing, not a JWS, another typ, a non-canonical signature', async () => {
    const sealed = await seal(data, files, 'export');
    const jws = sealed['manifest.jws'] as string;
    const [header, , signature] = jws.split('.') as [string, string, string];
    const header2 = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(header, 'base64url').toString()), typ: 'x' }),
    ).toString('base64url');
    const lastChar = signature.at(-1) as string;
    const sibling = 'AQgw'.includes(lastChar)
      ? String.fromCharCode(lastChar.charCodeAt(0) + 1)
      : 'A';
    const cases: [Files, string][] = [
      [
        Object.fromEntries(Object.entries(sealed).filter(([n]) => n !== 'manifest.jws')),
        'manifest.jws is missing',
      ],
      [await withJws('{"not":"a jws"}'), 'manifest.jws'],
      [await withJws(`${header2}..${signature}`), 'manifest.jws'],
      [await withJws(`${header}..${signature.slice(0, -1)}${sibling}`), 'manifest.jws'],
    ];
    for (const [bundle, reason] of cases) {
      const { claim } = await manifestOf(bundle);
      expect(claim).toMatchObject({ status: 'refuted', reason: expect.stringContaining(reason) });
    }
  });

  it('signed by a key outside the history, or by another merchant’s key', async () => {
    const stranger = await manifestOf(await seal(data, files, 'export', { signer: data.stranger }));
    expect(stranger.claim).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('which is not in the key history'),
    });
    const other = await manifestOf(
      await seal(data, files, 'export', { manifest: (m) => ({ ...m, merchantId: 'globex' }) }),
    );
    expect(other.claim).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining(`belongs to ${MERCHANT}, not to globex`),
    });
  });

  it('the key window: revoked before createdAt refutes; revoked after leaves it unproven', async () => {
    const publisher = LocalSigner.generate('quittance-publisher-1');
    const revokedHistory = async (revokedAt: string) =>
      loadKeyHistory(
        await makeSnapshot({
          publisher,
          keys: [
            {
              signer: data.merchant,
              merchantId: MERCHANT,
              nbf: '2026-10-01T00:00:00.000Z',
              status: 'revoked',
              revokedAt,
              revocationReason: 'compromised',
            },
          ],
          period: '2026-11',
          revocations: [
            await makeRevocation(publisher, {
              kid: data.merchant.kid,
              revokedAt,
              reason: 'compromised',
            }),
          ],
        }),
      );
    const contents = await contentsOf(await seal(data, files, 'export'));
    const read = await readManifest(contents);
    const before = await checkManifest(
      contents,
      read,
      await revokedHistory('2026-11-20T00:00:00.000Z'),
    );
    expect(before).toMatchObject({ status: 'refuted', reason: expect.stringContaining('revoked') });
    const after = await checkManifest(
      contents,
      read,
      await revokedHistory('2026-11-25T00:00:00.000Z'),
    );
    expect(after).toMatchObject({ status: 'unknown', reason: expect.stringContaining('revoked') });
  });
});

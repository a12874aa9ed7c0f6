/**
 * SPEC 1.1 §1: a verifier needs only the signed members. An absent envelope member makes the
 * claim it is evidence for `unknown`; a present but malformed one refutes that claim only.
 * Signed members (unknown ones included) are the signature's business.
 */
import type { JwksSnapshot, Receipt } from '@quittance/format';
import { LocalSigner } from '@quittance/signer';
import { makeReceipt, makeSnapshot, publisherJwks } from '@quittance/test-tooling';
import { beforeAll, describe, expect, it } from 'vitest';
import { parsePublisherKeys, toReport, verifyReceipt } from '../src';

const merchantKey = LocalSigner.generate('acme-2026Q4');
const publisher = LocalSigner.generate('publisher-2026');
const NBF = '2026-10-01T00:00:00.000Z';
let receipt: Receipt;
let snapshot: JwksSnapshot;
let publisherKeys: ReturnType<typeof parsePublisherKeys>;

beforeAll(async () => {
  receipt = await makeReceipt({ signer: merchantKey });
  snapshot = await makeSnapshot({
    publisher,
    keys: [{ signer: merchantKey, merchantId: 'acme', nbf: NBF }],
  });
  publisherKeys = parsePublisherKeys(await publisherJwks(publisher));
});

const verify = (r: unknown, s: unknown = snapshot) =>
  verifyReceipt(r, s, { publisher: publisherKeys });
const statusOf = async (r: unknown, s: unknown = snapshot) =>
  Object.fromEntries(
    Object.entries((await verify(r, s)).claims).map(([name, claim]) => [name, claim.status]),
  );
function without(r: Receipt, ...names: string[]): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...r };
  for (const name of names) delete copy[name];
  return copy;
}

describe('absent envelope members', () => {
  it('without chain: chain_linked unknown, everything else as for the full receipt', async () => {
    expect(await statusOf(without(receipt, 'chain'))).toEqual({
      signature_valid: 'asserted',
      key_valid_at_issuance: 'asserted',
      timestamp_valid: 'unknown',
      chain_linked: 'unknown',
      included_in_log: 'unknown',
      snapshot_authentic: 'asserted',
    });
  });

  it('without timestamp: timestamp_valid unknown (the chain still links)', async () => {
    const report = await verify(without(receipt, 'timestamp'));
    expect(report.claims.timestamp_valid.status).toBe('unknown');
    expect(report.claims.timestamp_valid.reason).toContain('without its timestamp');
    expect(report.claims.chain_linked.status).toBe('asserted');
    expect(report.claims.signature_valid.status).toBe('asserted');
  });

  it('without legal_posture only: nothing changes', async () => {
    expect(await statusOf(without(receipt, 'legal_posture'))).toEqual(await statusOf(receipt));
  });

  it('the signed members and jws alone verify, and the report passes', async () => {
    const report = await verify(without(receipt, 'legal_posture', 'timestamp', 'chain'));
    expect(report.claims).toMatchObject({
      signature_valid: { status: 'asserted' },
      key_valid_at_issuance: { status: 'asserted' },
      timestamp_valid: { status: 'unknown' },
      chain_linked: { status: 'unknown' },
      snapshot_authentic: { status: 'asserted' },
    });
    expect(toReport({}, [report]).ok).toBe(true);
  });

  it('without jws: signature_valid unknown, never refuted (SPEC 1.1), key validity still decided', async () => {
    const report = await verify(without(receipt, 'jws'));
    expect(report.claims.signature_valid).toMatchObject({
      status: 'unknown',
      reason: expect.stringContaining('no jws'),
    });
    expect(report.claims.key_valid_at_issuance.status).toBe('asserted');
    // The chain entry hashes the attached JWS: it cannot be checked without the jws.
    expect(report.claims.chain_linked.status).toBe('unknown');
    expect(toReport({}, [report]).ok).toBe(true);
    // Signed members that break SPEC §1 still refute it, jws or not.
    const broken = await verify(without({ ...receipt, bucket: 'refund' as never }, 'jws'));
    expect(broken.claims.signature_valid.status).toBe('refuted');
  });
});

describe('present but malformed envelope members refute only their own claim', () => {
  it.each([
    ['a string', 'seq-1'],
    ['seq 0', { seq: 0, prevHash: '0'.repeat(64), entryHash: 'c'.repeat(64) }],
    ['a bad prevHash', { seq: 1, prevHash: 'x', entryHash: 'c'.repeat(64) }],
    ['an unknown member', { seq: 1, prevHash: '0'.repeat(64), entryHash: 'c'.repeat(64), x: 1 }],
    ['null', null],
  ])('chain that is %s: chain_linked refuted, signature_valid asserted', async (_, chain) => {
    expect(await statusOf({ ...receipt, chain })).toEqual({
      signature_valid: 'asserted',
      key_valid_at_issuance: 'asserted',
      timestamp_valid: 'unknown',
      chain_linked: 'refuted',
      included_in_log: 'unknown',
      snapshot_authentic: 'asserted',
    });
  });

  it.each([
    ['not an object', 'token'],
    ['missing its token', { genTime: '2026-11-20T10:15:31Z', tsa: 'CN=TSA', policy: '1.2.3' }],
    [
      'with a genTime that is no time',
      { token: 'AAAA', genTime: 'yesterday', tsa: 'CN=TSA', policy: '1.2.3' },
    ],
  ])('timestamp %s: timestamp_valid refuted, the rest asserted', async (_, timestamp) => {
    expect(
      await statusOf({ ...receipt, legal_posture: 'ades_candidate_timestamped', timestamp }),
    ).toEqual({
      signature_valid: 'asserted',
      key_valid_at_issuance: 'asserted',
      timestamp_valid: 'refuted',
      chain_linked: 'asserted',
      included_in_log: 'unknown',
      snapshot_authentic: 'asserted',
    });
  });

  it('a legal_posture that is not one of the two, or contradicts the timestamp: timestamp_valid refuted', async () => {
    for (const legal_posture of ['notarized', 'ades_candidate_timestamped']) {
      expect(await statusOf({ ...receipt, legal_posture })).toMatchObject({
        signature_valid: 'asserted',
        timestamp_valid: 'refuted',
        chain_linked: 'asserted',
      });
    }
  });

  it('an attached (not detached) jws: signature_valid refuted, key validity asserted', async () => {
    const [header, signature] = receipt.jws.split('..') as [string, string];
    const report = await verify({ ...receipt, jws: `${header}.e30.${signature}` });
    expect(report.claims.signature_valid.status).toBe('refuted');
    expect(report.claims.signature_valid.reason).toContain('jws is malformed');
    expect(report.claims.key_valid_at_issuance.status).toBe('asserted');
    expect(report.claims.chain_linked.status).toBe('unknown');
  });
});

describe('signed members', () => {
  it('a member added after signing is signed content: the signature does not verify', async () => {
    const report = await verify({ ...receipt, extra: 'x' });
    expect(report.claims.signature_valid.status).toBe('refuted');
    expect(report.claims.signature_valid.reason).toContain('does not verify');
    expect(report.claims.key_valid_at_issuance.status).toBe('asserted');
  });

  it('an unknown member signed by the key: refuted all the same (what it signed is no receipt)', async () => {
    const odd = await makeReceipt({ signer: merchantKey, extra: { extra: 'x' } as never });
    const report = await verify(odd);
    expect(report.claims.signature_valid.status).toBe('refuted');
    expect(report.claims.signature_valid.reason).toContain('the signature verifies, but');
    expect(report.claims.signature_valid.reason).toContain('/extra');
  });

  it('a malformed createdAt: signature refuted, key validity unknown', async () => {
    expect(await statusOf({ ...receipt, createdAt: 'yesterday' })).toMatchObject({
      signature_valid: 'refuted',
      key_valid_at_issuance: 'unknown',
    });
  });

  it("a kid of another merchant: the signature verifies, the key is not the receipt's merchant's", async () => {
    const globexKey = LocalSigner.generate('globex-2026Q4');
    const crossed = await makeReceipt({ signer: globexKey, merchantId: 'acme' });
    const s = await makeSnapshot({
      publisher,
      keys: [
        { signer: merchantKey, merchantId: 'acme', nbf: NBF },
        { signer: globexKey, merchantId: 'globex', nbf: NBF },
      ],
    });
    const report = await verify(crossed, s);
    expect(report.claims.signature_valid.status).toBe('asserted');
    expect(report.claims.key_valid_at_issuance).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('belongs to globex'),
    });
  });
});

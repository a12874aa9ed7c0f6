/**
 * SPEC §5: revocation statements are compact JWS with the payload attached, signed by the
 * publisher key over UTF-8(JCS({kid, revokedAt, reason})), and MUST equal the revoked key's
 * kid, revokedAt and revocationReason in the same snapshot. Anything else refutes
 * snapshot_authentic. Also SPEC §2.1: the snapshot itself is signed through its digest
 * statement only.
 */
import {
  asciiBytes,
  base64url,
  canonicalBytes,
  JWS_TYPES,
  type JwksSnapshot,
  planSignature,
  snapshotSignedPart,
  utf8,
} from '@quittance/format';
import { LocalSigner, signPlan } from '@quittance/signer';
import { makeReceipt, makeRevocation, makeSnapshot, publisherJwks } from '@quittance/test-tooling';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadKeyHistory, parsePublisherKeys, verifyReceipt } from '../src';

const merchantKey = LocalSigner.generate('acme-2026Q4');
const oldKey = LocalSigner.generate('acme-2026Q3');
const publisher = LocalSigner.generate('publisher-2026');
const NBF = '2026-07-01T00:00:00.000Z';
const REVOKED_AT = '2026-11-10T00:00:00.000Z';
const REASON = 'key_compromise';
let publisherKeys: ReturnType<typeof parsePublisherKeys>;

beforeAll(async () => {
  publisherKeys = parsePublisherKeys(await publisherJwks(publisher));
});

/** A snapshot where acme-2026Q3 is revoked at REVOKED_AT for REASON, with the given statements. */
function snapshotWith(revocations: string[]): Promise<JwksSnapshot> {
  return makeSnapshot({
    publisher,
    revocations,
    keys: [
      {
        signer: oldKey,
        merchantId: 'acme',
        nbf: NBF,
        exp: REVOKED_AT,
        status: 'revoked',
        revokedAt: REVOKED_AT,
        revocationReason: REASON,
      },
      { signer: merchantKey, merchantId: 'acme', nbf: REVOKED_AT },
    ],
  });
}

const statement = (
  claims: Partial<{ kid: string; revokedAt: string; reason: string }> = {},
  signer: LocalSigner = publisher,
) =>
  makeRevocation(signer, { kid: 'acme-2026Q3', revokedAt: REVOKED_AT, reason: REASON, ...claims });

const authenticity = async (snapshot: unknown, withPublisher = true) =>
  (await loadKeyHistory(snapshot, withPublisher ? { publisher: publisherKeys } : {})).authentic;

describe('revocation statements (SPEC §5)', () => {
  it('a statement that matches its revoked key: the snapshot is authentic', async () => {
    const snapshot = await snapshotWith([await statement()]);
    expect((await authenticity(snapshot)).status).toBe('asserted');
    // And the revocation is honoured: a receipt of the revoked key after REVOKED_AT is refuted.
    const late = await makeReceipt({ signer: oldKey, createdAt: '2026-11-20T10:15:30.123Z' });
    const report = await verifyReceipt(late, snapshot, { publisher: publisherKeys });
    expect(report.claims).toMatchObject({
      signature_valid: { status: 'asserted' },
      key_valid_at_issuance: { status: 'refuted' },
      snapshot_authentic: { status: 'asserted' },
    });
    // Named as the revocation it is, with its reason (the revocation also ends exp, which
    // the reason once gave instead).
    expect(report.claims.key_valid_at_issuance?.reason).toBe(
      `key acme-2026Q3 was revoked ("${REASON}") as of ${REVOKED_AT}, at or before createdAt 2026-11-20T10:15:30.123Z`,
    );
  });

  it('revokedAt differs from the key: refuted', async () => {
    const claim = await authenticity(
      await snapshotWith([await statement({ revokedAt: '2026-11-20T00:00:00.000Z' })]),
    );
    expect(claim.status).toBe('refuted');
    expect(claim.reason).toContain('revokedAt 2026-11-20T00:00:00.000Z');
  });

  it('the same instant written differently is not equal (the statement copies the key)', async () => {
    const claim = await authenticity(
      await snapshotWith([await statement({ revokedAt: '2026-11-10T00:00:00Z' })]),
    );
    expect(claim.status).toBe('refuted');
  });

  it('reason differs from the key: refuted', async () => {
    const claim = await authenticity(
      await snapshotWith([await statement({ reason: 'superseded' })]),
    );
    expect(claim.status).toBe('refuted');
    expect(claim.reason).toContain('reason "superseded"');
  });

  it('a revoked key without a statement: refuted', async () => {
    const claim = await authenticity(await snapshotWith([]));
    expect(claim).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('acme-2026Q3 is revoked without a matching statement'),
    });
  });

  it('a statement for a key that is not revoked, or not in the snapshot: refuted', async () => {
    for (const kid of ['acme-2026Q4', 'acme-2025Q1']) {
      const claim = await authenticity(
        await snapshotWith([await statement(), await statement({ kid })]),
      );
      expect(claim.status, kid).toBe('refuted');
    }
  });

  it('a statement signed by a key that is not the pinned publisher key: refuted', async () => {
    // Same kid as the publisher, another key: the signature does not verify.
    const impostor = LocalSigner.generate('publisher-2026');
    const forged = await authenticity(await snapshotWith([await statement({}, impostor)]));
    expect(forged).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('signature does not verify'),
    });
    // A kid that is not pinned at all.
    const stranger = LocalSigner.generate('someone-else');
    const unpinned = await authenticity(await snapshotWith([await statement({}, stranger)]));
    expect(unpinned).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('not a pinned publisher key'),
    });
    // The merchant's own key is not the publisher either.
    const merchantSigned = await authenticity(
      await snapshotWith([await statement({}, merchantKey)]),
    );
    expect(merchantSigned.status).toBe('refuted');
  });

  it('and the receipt verdict follows: key validity unknown (a forged snapshot proves nothing), exit status 1', async () => {
    const good = await makeReceipt({ signer: merchantKey, createdAt: '2026-11-20T10:15:30.123Z' });
    const snapshot = await snapshotWith([
      await statement({ revokedAt: '2026-11-11T00:00:00.000Z' }),
    ]);
    const report = await verifyReceipt(good, snapshot, { publisher: publisherKeys });
    expect(report.claims).toMatchObject({
      signature_valid: { status: 'asserted' },
      key_valid_at_issuance: { status: 'unknown' },
      snapshot_authentic: { status: 'refuted' },
    });
  });

  it('a detached statement (payload not attached): refuted', async () => {
    const [header, , signature] = (await statement()).split('.');
    const claim = await authenticity(await snapshotWith([`${header}..${signature}`]));
    expect(claim).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('payload attached'),
    });
  });

  it('a payload that is not the JCS form, even when the publisher signed it: refuted', async () => {
    const headerB64 = base64url(
      canonicalBytes({ alg: 'EdDSA', kid: publisher.kid, typ: JWS_TYPES.revocation }),
    );
    const payloadB64 = base64url(
      utf8(JSON.stringify({ kid: 'acme-2026Q3', revokedAt: REVOKED_AT, reason: REASON })),
    );
    const signature = await publisher.sign(asciiBytes(`${headerB64}.${payloadB64}`));
    const claim = await authenticity(
      await snapshotWith([`${headerB64}.${payloadB64}.${base64url(signature)}`]),
    );
    expect(claim).toMatchObject({ status: 'refuted', reason: expect.stringContaining('JCS') });
  });

  it('a statement with the wrong typ: refuted', async () => {
    const plan = planSignature(
      { kid: 'acme-2026Q3', reason: REASON, revokedAt: REVOKED_AT },
      publisher.kid,
      'JWT',
    );
    const signature = await publisher.sign(plan.signingInput);
    const claim = await authenticity(
      await snapshotWith([`${plan.headerB64}.${plan.payloadB64}.${base64url(signature)}`]),
    );
    expect(claim).toMatchObject({ status: 'refuted', reason: expect.stringContaining('typ') });
  });

  it('without a publisher key: a matching snapshot is unknown, a contradicting one refuted', async () => {
    expect((await authenticity(await snapshotWith([await statement()]), false)).status).toBe(
      'unknown',
    );
    expect(
      (await authenticity(await snapshotWith([await statement({ reason: 'x' })]), false)).status,
    ).toBe('refuted');
    expect((await authenticity(await snapshotWith([]), false)).status).toBe('refuted');
  });
});

describe('snapshot signatures (SPEC §2.1)', () => {
  it('a snapshot signed over the whole document instead of its digest statement: refuted', async () => {
    const signed = await snapshotWith([await statement()]);
    const { jws: _digestSigned, ...unsigned } = signed;
    const plan = planSignature(
      snapshotSignedPart(unsigned),
      publisher.kid,
      JWS_TYPES.snapshot,
      Number.POSITIVE_INFINITY,
    );
    const { jws } = await signPlan(plan, publisher);
    expect((await authenticity({ ...unsigned, jws })).status).toBe('refuted');
    expect((await authenticity(signed)).status).toBe('asserted');
  });
});

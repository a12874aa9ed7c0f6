import { signingKeys } from '@quittance/db';
import type { Signer } from '@quittance/signer';
import { loadKeyHistory, parsePublisherKeys, verifyReceipt } from '@quittance/verifier';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, issueBody } from './harness';

// The embedded default's local keys are files named by kid, made before the transaction that
// decides whether the kid is taken. A request that lost (a merchant created again, a
// concurrent rotation or revocation) once replaced the winner's file: receipts kept
// verifying until the process restarted and signed with the file's other key.

let h: Harness;

const factory = () =>
  (
    h.services.keyRing as unknown as {
      factory: { load(kid: string, ref: string): Promise<Signer> };
    }
  ).factory;

/** Each of the merchant's keys as a restarted process loads it, against what was published. */
async function expectKeysAsPublished(merchantId: string) {
  const rows = await h.services.db
    .select()
    .from(signingKeys)
    .where(eq(signingKeys.merchantId, merchantId));
  const published = (await h.call('GET', '/.well-known/jwks.json')).body.keys as {
    kid: string;
    x: string;
  }[];
  expect(rows.length).toBeGreaterThan(0);
  for (const row of rows) {
    const loaded = await factory().load(row.kid, row.keyRef);
    expect((await loaded.publicJwk()).x, row.kid).toBe(row.x);
    const jwk = published.find((k) => k.kid === row.kid);
    if (jwk) expect(jwk.x, row.kid).toBe(row.x);
  }
}

/** A receipt issued now verifies against the snapshot it names. */
async function expectIssuedReceiptVerifies(merchantKey: string) {
  const issued = await h.call('POST', '/api/v1/trust/receipts', {
    key: merchantKey,
    body: issueBody(),
  });
  expect(issued.status).toBe(201);
  const snapshot = (await h.call('GET', new URL(issued.body.jwksSnapshotUrl).pathname)).body;
  const publisher = parsePublisherKeys(
    (await h.call('GET', '/.well-known/quittance-publisher.json')).body,
  );
  const report = await verifyReceipt(issued.body, await loadKeyHistory(snapshot, { publisher }));
  expect(report.claims.signature_valid.status).toBe('asserted');
}

describe.each([
  ['PostgreSQL', false],
  ['the embedded PGlite', true],
])('on %s, key changes that lose a race leave the published keys as they are', (_, embedded) => {
  beforeAll(async () => {
    h = await createHarness({ embedded });
  });
  afterAll(async () => {
    await h.close();
  });

  it('creating a merchant again answers 409 and keeps its key; of concurrent creations one wins', async () => {
    const m = await h.merchant();
    const again = await h.admin('POST', '/merchants', {
      merchantId: m.merchantId,
      jurisdiction: 'EU',
    });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('merchant_exists');
    await expectKeysAsPublished(m.merchantId);
    await expectIssuedReceiptVerifies(m.merchantKey);

    const id = `race-${Date.now()}`;
    const answers = await Promise.all(
      Array.from({ length: 8 }, () =>
        h.admin('POST', '/merchants', { merchantId: id, jurisdiction: 'US' }),
      ),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([201, ...Array(7).fill(409)]);
    for (const a of answers.filter((a) => a.status === 409))
      expect(a.body.code).toBe('merchant_exists');
    await expectKeysAsPublished(id);
  });

  it('of concurrent rotations each either rotates or answers 409 signing_keys_changed', async () => {
    const m = await h.merchant();
    const answers = await Promise.all(
      Array.from({ length: 8 }, () =>
        h.admin('POST', `/merchants/${m.merchantId}/signing-keys/rotate`),
      ),
    );
    const rotated = answers.filter((a) => a.status === 201);
    expect(rotated.length).toBeGreaterThan(0);
    expect(new Set(rotated.map((a) => a.body.kid)).size).toBe(rotated.length);
    for (const a of answers.filter((a) => a.status !== 201)) {
      expect(a.status).toBe(409);
      expect(a.body.code).toBe('signing_keys_changed');
    }
    await expectKeysAsPublished(m.merchantId);
    await expectIssuedReceiptVerifies(m.merchantKey);
  });

  it('of concurrent revocations of the active key one revokes it, with one replacement', async () => {
    const m = await h.merchant();
    const [active] = await h.services.db
      .select()
      .from(signingKeys)
      .where(eq(signingKeys.merchantId, m.merchantId));
    const answers = await Promise.all(
      Array.from({ length: 8 }, () =>
        h.admin('POST', `/signing-keys/${active?.kid}/revoke`, { reason: 'keyCompromise' }),
      ),
    );
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    for (const a of answers.filter((a) => a.status !== 200)) {
      expect(a.status).toBe(409);
      expect(['key_revoked', 'signing_keys_changed']).toContain(a.body.code);
    }
    await expectKeysAsPublished(m.merchantId);
    await expectIssuedReceiptVerifies(m.merchantKey);
  });
});

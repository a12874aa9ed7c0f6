import { receipts } from '@quittance/db';
import { canonicalBytes, sha256Hex } from '@quittance/format';
import { startOwnRedis, startTsaServer, type TsaTestServer, until } from '@quittance/test-tooling';
import { parsePemCertificates } from '@quittance/tsp';
import {
  loadKeyHistory,
  parsePublisherKeys,
  verifyCheckpoint,
  verifyReceipt,
} from '@quittance/verifier';
import { eq } from 'drizzle-orm';
import { createLocalJWKSet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkChain } from '../src/chain/chain-check';
import { createHarness, type Harness, issueBody } from './harness';

let tsa: TsaTestServer;
beforeAll(async () => {
  tsa = await startTsaServer();
}, 60_000);
afterAll(async () => {
  await tsa.close();
});

const tsaEnv = () => ({
  QUITTANCE_TSA_URL: tsa.url,
  QUITTANCE_TSA_TRUST: tsa.trustPemPath,
  QUITTANCE_SWEEP_INTERVAL_MS: '100',
  QUITTANCE_RETRY_MAX_MS: '300',
});

const timestamped = (h: Harness, merchantId: string) =>
  h.services.db
    .select({ posture: receipts.legalPosture })
    .from(receipts)
    .where(eq(receipts.merchantId, merchantId))
    .then((rows) => rows.filter((r) => r.posture === 'ades_candidate_timestamped').length);

describe('Redis stopped while receipts are issued', () => {
  it('issuance still succeeds; once Redis is back every receipt gets its timestamp', async () => {
    const redis = await startOwnRedis();
    const h = await createHarness({ jobs: true, env: { ...tsaEnv(), REDIS_URL: redis.url } });
    try {
      const m = await h.merchant();
      await redis.stop();
      const issued = await Promise.all(
        Array.from({ length: 20 }, () =>
          h.call('POST', '/api/v1/trust/receipts', { key: m.merchantKey, body: issueBody() }),
        ),
      );
      expect(issued.map((r) => r.status)).toEqual(Array(20).fill(201));
      await new Promise((r) => setTimeout(r, 500));
      expect(await timestamped(h, m.merchantId)).toBe(0);
      await redis.start();
      expect(await until(async () => (await timestamped(h, m.merchantId)) === 20 && 20)).toBe(20);
    } finally {
      await h.close();
      await redis.close();
    }
  }, 90_000);
});

describe('with in-process jobs (npm start without Redis)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({
      jobs: true,
      env: { ...tsaEnv(), QUITTANCE_CHECKPOINT_EVERY: '5', QUITTANCE_CHECKPOINT_INTERVAL_S: '1' },
    });
  });
  afterAll(async () => {
    await h.close();
  });

  const anchors = () => parsePemCertificates(tsa.trustPem);
  const historyFor = async (period: string) => {
    const snapshot = (await h.call('GET', `/.well-known/jwks/snapshot/${period}.json`)).body;
    const publisher = parsePublisherKeys(
      (await h.call('GET', '/.well-known/quittance-publisher.json')).body,
    );
    return loadKeyHistory(snapshot, { publisher });
  };
  it('timestamps receipts within seconds and signs timestamped checkpoints of the chain head', async () => {
    const m = await h.merchant();
    for (let i = 0; i < 12; i++)
      await h.call('POST', '/api/v1/trust/receipts', { key: m.merchantKey, body: issueBody() });
    expect(await until(async () => (await timestamped(h, m.merchantId)) === 12 && 12)).toBe(12);
    const list = await until(async () => {
      const r = await h.call('GET', '/api/v1/trust/checkpoints', { key: m.auditorKey });
      // Every 5 receipts, then the head once its interval (1 s) is due.
      return (
        r.body.checkpoints[0]?.seq === 12 &&
        r.body.checkpoints.every((c: any) => c.timestamp) &&
        r.body.checkpoints
      );
    });
    const newest = list[0];
    expect(newest).toMatchObject({ merchantId: m.merchantId, seq: 12, jws: expect.any(String) });
    const history = await historyFor(newest.createdAt.slice(0, 7));
    const entry = (await h.call('GET', '/api/v1/trust/receipts?limit=1', { key: m.merchantKey }))
      .body.receipts[0].chain;
    const report = await verifyCheckpoint(newest, history, {
      tsaTrustAnchors: anchors(),
      chainEntry: { seq: entry.seq, entryHash: entry.entryHash },
    });
    expect(report.claims).toMatchObject({
      signature_valid: { status: 'asserted' },
      key_valid_at_issuance: { status: 'asserted' },
      timestamp_valid: { status: 'asserted' },
      chain_linked: { status: 'asserted' },
    });
    const forged = await verifyCheckpoint({ ...newest, seq: 11 }, history, {
      tsaTrustAnchors: anchors(),
    });
    expect(forged.claims.signature_valid.status).toBe('refuted');
    // Another merchant's keys see none of them.
    const other = await h.merchant();
    expect(
      (await h.call('GET', '/api/v1/trust/checkpoints', { key: other.merchantKey })).body
        .checkpoints,
    ).toEqual([]);
  });

  it('snapshot versions chain by prevSnapshotHash, verify with the publisher key, and are JWKS for jose', async () => {
    const m = await h.merchant();
    await h.admin('POST', `/merchants/${m.merchantId}/signing-keys/rotate`);
    const period = new Date().toISOString().slice(0, 7);
    const latest = (await h.call('GET', `/.well-known/jwks/snapshot/${period}.json`)).body;
    expect(latest.version).toBeGreaterThanOrEqual(3);
    const publisher = parsePublisherKeys(
      (await h.call('GET', '/.well-known/quittance-publisher.json')).body,
    );
    let previous: any = null;
    for (let version = 1; version <= latest.version; version++) {
      const response = await h.call(
        'GET',
        `/.well-known/jwks/snapshot/${period}.json?version=${version}`,
      );
      const doc = response.body;
      expect(doc.version).toBe(version);
      if (previous) expect(doc.prevSnapshotHash).toBe(await sha256Hex(canonicalBytes(previous)));
      else expect(doc.prevSnapshotHash).toBeNull();
      expect((await loadKeyHistory(doc, { publisher })).authentic.status).toBe('asserted');
      previous = doc;
    }
    const jwks = createLocalJWKSet(latest);
    const kid = latest.keys.at(-1).kid;
    await expect(jwks({ alg: 'EdDSA', kid })).resolves.toBeTruthy();
  });

  /**
   * Until a timestamp at `genTime` proves existence: the test TSA's tokens say ± 1 s, so what
   * they stamp existed by genTime + 1 s (RFC 3161 accuracy), and a revocation must come later.
   */
  const pastAccuracy = (genTime: string) =>
    new Promise((r) => setTimeout(r, Math.max(0, Date.parse(genTime) + 1_100 - Date.now())));

  it('a receipt of a key revoked afterwards stays valid through its proof and a timestamped checkpoint', async () => {
    const m = await h.merchant();
    const issued = await h.call('POST', '/api/v1/trust/receipts', {
      key: m.merchantKey,
      body: issueBody(),
    });
    // The job checkpoints the head within a second and timestamps it.
    const stamped = await until(async () => {
      const r = await h.call('GET', '/api/v1/trust/checkpoints', { key: m.auditorKey });
      return r.body.checkpoints.find((c: any) => c.seq >= 1 && c.timestamp);
    });
    await pastAccuracy(stamped.timestamp.genTime);
    const revoked = await h.admin('POST', `/signing-keys/${issued.body.signingKeyKid}/revoke`, {
      reason: 'keyCompromise',
    });
    expect(revoked.status).toBe(200);
    const proof = (
      await h.call(
        'GET',
        `/api/v1/trust/receipts/${issued.body.id}/proof?checkpoint=${stamped.seq}`,
        {
          key: m.agent1Key,
        },
      )
    ).body;
    const history = await historyFor(revoked.body.revokedAt.slice(0, 7));
    const receipt = (
      await h.call('GET', `/api/v1/trust/receipts/${issued.body.id}`, { key: m.agent1Key })
    ).body;
    const withProof = await verifyReceipt(receipt, history, {
      proof,
      tsaTrustAnchors: anchors(),
    });
    expect(withProof.claims.included_in_log?.status).toBe('asserted');
    expect(withProof.claims.key_valid_at_issuance.status).toBe('asserted');
    // Without the proof, nothing shows the receipt existed before the revocation.
    const alone = await verifyReceipt(
      { ...receipt, timestamp: null, legal_posture: 'signed' },
      history,
      {
        tsaTrustAnchors: anchors(),
      },
    );
    expect(alone.claims.key_valid_at_issuance.status).toBe('unknown');
  });

  it('rotation then revocation: old receipts still verify, receipts after revokedAt are refuted', async () => {
    const m = await h.merchant();
    const first = await h.call('POST', '/api/v1/trust/receipts', {
      key: m.merchantKey,
      body: issueBody(),
    });
    const kidA = first.body.signingKeyKid;
    const r1 = await h.timestamped(m.merchantKey, first.body.id);
    await pastAccuracy(r1.timestamp.genTime);
    const revokedAt = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    const second = await h.call('POST', '/api/v1/trust/receipts', {
      key: m.merchantKey,
      body: issueBody(),
    });
    expect(second.body.signingKeyKid).toBe(kidA);
    const rotated = await h.admin('POST', `/merchants/${m.merchantId}/signing-keys/rotate`);
    const third = await h.call('POST', '/api/v1/trust/receipts', {
      key: m.merchantKey,
      body: issueBody(),
    });
    expect(third.body.signingKeyKid).toBe(rotated.body.kid);
    const revoked = await h.admin('POST', `/signing-keys/${kidA}/revoke`, {
      reason: 'key_compromise',
      revokedAt,
    });
    expect(revoked.status).toBe(200);
    expect(revoked.body.replacementKid).toBeNull();

    const history = await historyFor(revokedAt.slice(0, 7));
    const withTsa = { tsaTrustAnchors: anchors() };
    const [v1, v1NoTsa, v2, v3] = await Promise.all([
      verifyReceipt(r1, history, withTsa),
      verifyReceipt(r1, history),
      verifyReceipt(second.body, history, withTsa),
      verifyReceipt(third.body, history, withTsa),
    ]);
    expect(v1.claims.key_valid_at_issuance.status).toBe('asserted');
    expect(v1.claims.key_valid_at_issuance.reason).toContain('timestamp');
    expect(v1NoTsa.claims.key_valid_at_issuance.status).toBe('unknown');
    expect(v2.claims.key_valid_at_issuance.status).toBe('refuted');
    expect(v3.claims.key_valid_at_issuance.status).toBe('asserted');
    for (const v of [v1, v2, v3]) expect(v.claims.signature_valid.status).toBe('asserted');
    expect(await checkChain(h.services.db, m.merchantId)).toMatchObject({ ok: true, checked: 3 });
  });
});

describe('schedules against a controllable clock', () => {
  it('a new quarter rotates every merchant; a new month gets a snapshot that links to the last', async () => {
    let now = Date.parse('2026-12-31T23:59:00.000Z');
    const h = await createHarness({ clock: () => new Date(now) });
    try {
      const m = await h.merchant();
      const before = await h.call('POST', '/api/v1/trust/receipts', {
        key: m.merchantKey,
        body: issueBody(),
      });
      expect(before.body.signingKeyKid).toBe(`${m.merchantId}-2026Q4`);
      now = Date.parse('2027-01-01T00:00:10.000Z');
      const { rotateDueKeys } = await import('../src/keys/rotation');
      expect(await rotateDueKeys(h.services)).toEqual([`${m.merchantId}-2027Q1`]);
      expect(await rotateDueKeys(h.services)).toEqual([]);
      const after = await h.call('POST', '/api/v1/trust/receipts', {
        key: m.merchantKey,
        body: issueBody(),
      });
      expect(after.body.signingKeyKid).toBe(`${m.merchantId}-2027Q1`);
      expect(after.body.jwksSnapshotUrl).toMatch(/2027-01\.json$/);
      const december = (await h.call('GET', '/.well-known/jwks/snapshot/2026-12.json')).body;
      const january = (await h.call('GET', '/.well-known/jwks/snapshot/2027-01.json')).body;
      expect(january).toMatchObject({
        period: '2027-01',
        version: 1,
        prevSnapshotHash: await sha256Hex(canonicalBytes(december)),
      });
      const publisher = parsePublisherKeys(
        (await h.call('GET', '/.well-known/quittance-publisher.json')).body,
      );
      const history = await loadKeyHistory(january, { publisher });
      for (const r of [before.body, after.body]) {
        expect((await verifyReceipt(r, history)).claims.key_valid_at_issuance.status).toBe(
          'asserted',
        );
      }
      now = Date.parse('2027-02-01T00:00:05.000Z');
      await h.services.snapshots.ensure(h.services.db, new Date(now));
      expect((await h.call('GET', '/.well-known/jwks/snapshot/2027-02.json')).body).toMatchObject({
        version: 1,
      });
    } finally {
      await h.close();
    }
  });
});

/**
 * SPEC §6: a checkpoint is made before a key is revoked "so that revocation never strands
 * receipts without proof of when they existed". An outside check found that checkpoint
 * timestamped only afterwards, by the job: its token came after `revokedAt`, and every
 * receipt since the last timestamped checkpoint stayed key_valid_at_issuance unknown for
 * good. Here no job runs: only the revocation itself can timestamp the checkpoint.
 */
import { periodOf } from '@quittance/format';
import { startTsaServer, type TsaTestServer } from '@quittance/test-tooling';
import { parsePemCertificates } from '@quittance/tsp';
import { parsePublisherKeys, verifyBundle, verifyReceipt } from '@quittance/verifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timestampCheckpoint } from '../src/timestamps/timestamp-work';
import { createHarness, type Harness, issueBody } from './harness';

let tsa: TsaTestServer;
beforeAll(async () => {
  tsa = await startTsaServer();
});
afterAll(() => tsa?.close());

describe.each([
  ['PostgreSQL', false],
  ['the embedded PGlite', true],
])('revoking a key now on %s', (_, embedded) => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({
      embedded,
      env: { QUITTANCE_TSA_URL: tsa.url, QUITTANCE_TSA_TRUST: tsa.trustPemPath },
    });
  }, 60_000);
  afterAll(() => h?.close());

  async function issueThree(merchantKey: string) {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await h.call('POST', '/api/v1/trust/receipts', {
        key: merchantKey,
        body: issueBody({ callId: `call-${i}` }),
      });
      expect(r.status).toBe(201);
      ids.push(r.body.id);
    }
    return ids;
  }

  /** Revokes the key of `ids` now; each receipt's proof must then verify as valid offline. */
  async function revokeAndVerify(merchantKey: string, ids: string[]) {
    const kid = (await h.call('GET', `/api/v1/trust/receipts/${ids[0]}`, { key: merchantKey })).body
      .signingKeyKid;
    const revoked = await h.admin('POST', `/signing-keys/${kid}/revoke`, {
      reason: 'keyCompromise',
    });
    expect(revoked.status).toBe(200);
    expect(revoked.body.checkpointTimestamped).toBe(true);

    const publisher = parsePublisherKeys(
      (await h.call('GET', '/.well-known/quittance-publisher.json')).body,
    );
    const snapshot = (
      await h.call('GET', `/.well-known/jwks/snapshot/${periodOf(new Date())}.json`)
    ).body;
    const anchors = parsePemCertificates(tsa.trustPem);
    for (const id of ids) {
      const receipt = (await h.call('GET', `/api/v1/trust/receipts/${id}`, { key: merchantKey }))
        .body;
      const proof = await h.call('GET', `/api/v1/trust/receipts/${id}/proof`, {
        key: merchantKey,
      });
      expect(proof.status).toBe(200);
      const report = await verifyReceipt(receipt, snapshot, {
        publisher,
        tsaTrustAnchors: anchors,
        proof: proof.body,
      });
      expect(report.claims.included_in_log?.status).toBe('asserted');
      expect(report.claims.key_valid_at_issuance).toMatchObject({
        status: 'asserted',
        reason: expect.stringContaining('proves the receipt existed before'),
      });
    }
  }

  it('timestamps the checkpoint before it: every receipt of the key is proven valid', async () => {
    const m = await h.merchant();
    await revokeAndVerify(m.merchantKey, await issueThree(m.merchantKey));
  });

  it('a checkpoint the job stamped just before: the revocation still waits out its accuracy', async () => {
    const m = await h.merchant();
    const ids = await issueThree(m.merchantKey);
    await h.checkpointNow();
    const timestamper = h.services.timestamper as NonNullable<typeof h.services.timestamper>;
    expect(await timestampCheckpoint(h.services, timestamper, m.merchantId, 3)).toBe('attached');
    await revokeAndVerify(m.merchantKey, ids);
  });

  it("order evidence keeps proving them after the replacement key's next checkpoint", async () => {
    const m = await h.merchant();
    const ids = await issueThree(m.merchantKey);
    await revokeAndVerify(m.merchantKey, ids);
    // The replacement key issues for another order; its checkpoint is timestamped after the
    // revocation and proves nothing about the revoked key's receipts.
    for (let i = 0; i < 2; i++)
      await h.call('POST', '/api/v1/trust/receipts', {
        key: m.merchantKey,
        body: issueBody({ callId: `later-${i}`, orderId: 'order-2' }),
      });
    await h.checkpointNow();
    const timestamper = h.services.timestamper as NonNullable<typeof h.services.timestamper>;
    expect(await timestampCheckpoint(h.services, timestamper, m.merchantId, 5)).toBe('attached');
    const res = await h.app.request('/api/v1/trust/receipts/by-order/order-1/evidence', {
      headers: { authorization: `Bearer ${m.auditorKey}` },
    });
    expect(res.status).toBe(200);
    const publisher = parsePublisherKeys(
      (await h.call('GET', '/.well-known/quittance-publisher.json')).body,
    );
    const report = await verifyBundle(new Uint8Array(await res.arrayBuffer()), {
      publisher,
      tsaTrustAnchors: parsePemCertificates(tsa.trustPem),
      keepReceipts: true,
    });
    expect(report.ok).toBe(true);
    expect(report.receipts?.map((r) => r.claims.key_valid_at_issuance.status)).toEqual([
      'asserted',
      'asserted',
      'asserted',
    ]);
  });

  // An outside auditor: with the bundle's own TSA roots (no --tsa-trust), the revoked key's
  // checkpoint was asserted, verifier_derived, on the strength of its timestamp alone, which
  // the same roots make only the operator's word for the receipts (README: TSA roots in
  // bundles). Its time is now proven only under roots the auditor pinned.
  it("the revoked key's checkpoint proves its time only under TSA roots the auditor pinned", async () => {
    const m = await h.merchant();
    const ids = await issueThree(m.merchantKey);
    await revokeAndVerify(m.merchantKey, ids);
    const res = await h.app.request('/api/v1/trust/receipts/by-order/order-1/evidence', {
      headers: { authorization: `Bearer ${m.auditorKey}` },
    });
    expect(res.status).toBe(200);
    const bundle = new Uint8Array(await res.arrayBuffer());
    const publisher = parsePublisherKeys(
      (await h.call('GET', '/.well-known/quittance-publisher.json')).body,
    );
    const pinned = await verifyBundle(bundle, {
      publisher,
      tsaTrustAnchors: parsePemCertificates(tsa.trustPem),
      keepReceipts: true,
    });
    expect(pinned.ok).toBe(true);
    expect(pinned.claims.checkpoints_valid?.status).toBe('asserted');
    const own = await verifyBundle(bundle, { publisher, keepReceipts: true });
    expect(own.ok).toBe(true);
    expect(own.claims.checkpoints_valid).toMatchObject({
      status: 'unknown',
      reason: expect.stringContaining('revoked'),
    });
    for (const receipt of own.receipts ?? [])
      expect(receipt.claims.key_valid_at_issuance.status).not.toBe('asserted');
  });

  it('a TSA that fails does not block the revocation: it says the receipts stay unproven', async () => {
    const m = await h.merchant();
    const ids = await issueThree(m.merchantKey);
    const kid = (await h.call('GET', `/api/v1/trust/receipts/${ids[0]}`, { key: m.merchantKey }))
      .body.signingKeyKid;
    tsa.setMode('error-status');
    try {
      const revoked = await h.admin('POST', `/signing-keys/${kid}/revoke`, {
        reason: 'keyCompromise',
      });
      expect(revoked.status).toBe(200);
      expect(revoked.body.checkpointTimestamped).toBe(false);
    } finally {
      tsa.setMode('ok');
    }
    // The merchant keeps issuing with the replacement key.
    const next = await h.call('POST', '/api/v1/trust/receipts', {
      key: m.merchantKey,
      body: issueBody({ callId: 'after' }),
    });
    expect(next.status).toBe(201);
    expect(next.body.signingKeyKid).not.toBe(kid);
  });
});

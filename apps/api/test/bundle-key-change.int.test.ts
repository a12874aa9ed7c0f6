import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exports as exportsTable } from '@quittance/db';
import { type KmsTestServer, startKmsServer } from '@quittance/test-tooling';
import { parsePublisherKeys, verifyBundle } from '@quittance/verifier';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { download } from './bundle-helpers';
import { createKmsHarness, type Harness, issueBody } from './harness';

// A bundle's manifest is signed last, after its createdAt was fixed and its key snapshots
// were written. A key rotated or revoked in between once got a bundle answered (or an export
// marked done) whose manifest named a key its own key history did not hold, or one not yet
// valid at its createdAt: manifest_valid refuted, found by the soak on the embedded default.
// Here the KMS-protocol endpoint changes the keys while the manifest's signature is in flight.

describe.each([
  ['PostgreSQL', false],
  ['the embedded PGlite', true],
])('on %s, a bundle built while keys change, or the process stops', (_, embedded) => {
  let h: Harness;
  let kms: KmsTestServer;
  let dir: string;

  beforeAll(async () => {
    kms = await startKmsServer();
    dir = await mkdtemp(join(tmpdir(), 'quittance-key-change-'));
    h = await createKmsHarness(kms, { embedded });
  });
  afterAll(async () => {
    await h?.close();
    await kms?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A merchant with a checkpointed order of two receipts. */
  async function merchantWithOrder() {
    const m = await h.merchant();
    for (let i = 0; i < 2; i++) {
      const r = await h.call('POST', '/api/v1/trust/receipts', {
        key: m.merchantKey,
        body: issueBody({ orderId: 'order-k' }),
      });
      expect(r.status).toBe(201);
    }
    await h.checkpointNow();
    return m;
  }

  async function verified(path: string) {
    const publisher = parsePublisherKeys(
      (await h.call('GET', '/.well-known/quittance-publisher.json')).body,
    );
    return verifyBundle(path, { publisher });
  }

  const activeKid = async (merchantId: string) => {
    const keys = (await h.call('GET', '/.well-known/jwks.json')).body.keys as { kid: string }[];
    return keys.filter((k) => k.kid.startsWith(merchantId)).map((k) => k.kid);
  };

  it('order evidence: a rotation meanwhile makes it build again, and what is answered verifies', async () => {
    const m = await merchantWithOrder();
    let rotation: { status: number; body: { kid: string } } | undefined;
    kms.faults.beforeSign = async () => {
      rotation = await h.admin('POST', `/merchants/${m.merchantId}/signing-keys/rotate`);
    };
    const res = await h.app.request('/api/v1/trust/receipts/by-order/order-k/evidence', {
      headers: { authorization: `Bearer ${m.auditorKey}` },
    });
    expect(rotation?.status).toBe(201);
    expect(res.status).toBe(200);
    const path = join(dir, `evidence-${m.merchantId}.zip`);
    await writeFile(path, Buffer.from(await res.arrayBuffer()));
    const report = await verified(path);
    expect(report.claims.manifest_valid?.status, report.claims.manifest_valid?.reason).toBe(
      'asserted',
    );
    expect(report.claims.manifest_valid?.reason).toContain(`key ${rotation?.body.kid},`);
    expect(report.ok).toBe(true);
  });

  it("another merchant's key changes meanwhile, at every signature, do not make it build again", async () => {
    // Found by the second soak: any merchant's key change counted as a change of this
    // bundle's key history, so a busy rotation of others failed evidence (503) and exports.
    const m = await merchantWithOrder();
    const other = await h.merchant();
    let rotations = 0;
    const rotateOther = async () => {
      const r = await h.admin('POST', `/merchants/${other.merchantId}/signing-keys/rotate`);
      if (r.status === 201) rotations++;
      kms.faults.beforeSign = rotateOther;
    };
    kms.faults.beforeSign = rotateOther;
    try {
      const res = await h.app.request('/api/v1/trust/receipts/by-order/order-k/evidence', {
        headers: { authorization: `Bearer ${m.auditorKey}` },
      });
      expect(res.status).toBe(200);
      const path = join(dir, `evidence-other-${m.merchantId}.zip`);
      await writeFile(path, Buffer.from(await res.arrayBuffer()));
      expect((await verified(path)).ok).toBe(true);
    } finally {
      kms.faults.beforeSign = undefined;
    }
    expect(rotations).toBeGreaterThanOrEqual(1);
  });

  it('export: a revocation of the active key meanwhile makes it build again; done means it verifies', async () => {
    const m = await merchantWithOrder();
    const [before] = await activeKid(m.merchantId);
    let revocation: { status: number } | undefined;
    kms.faults.beforeSign = async () => {
      revocation = await h.admin('POST', `/signing-keys/${before}/revoke`, {
        reason: 'superseded',
      });
    };
    const created = await h.services.exports.create(
      { merchantId: m.merchantId, role: 'merchant', agentId: null, keyPrefix: 'test' },
      { jurisdiction: 'EU', includeBodies: true },
    );
    await h.services.exports.build(created.id);
    expect(revocation?.status).toBe(200);
    const view = await h.call('GET', `/api/v1/trust/exports/${created.id}`, {
      key: m.merchantKey,
    });
    expect(view.body.status).toBe('done');
    const path = join(dir, `export-${m.merchantId}.zip`);
    expect((await download(h.app, m.merchantKey, created.id, path)).status).toBe(200);
    const report = await verified(path);
    expect(report.claims.manifest_valid?.status, report.claims.manifest_valid?.reason).toBe(
      'asserted',
    );
    expect(report.claims.manifest_valid?.reason).not.toContain(`key ${before},`);
  });

  it('a build stopped by a shutdown hands the export on: queued, lease free, no attempt spent', async () => {
    // Found by the second soak: on SIGTERM a running build went on until the database closed
    // under it, then failed its failure path against the closed database.
    const m = await merchantWithOrder();
    const principal = { merchantId: m.merchantId, role: 'merchant' as const, agentId: null };
    const created = await h.services.exports.create(
      { ...principal, keyPrefix: 'test' },
      { jurisdiction: 'EU', includeBodies: true },
    );
    h.services.state.shuttingDown = true;
    try {
      await h.services.exports.build(created.id);
    } finally {
      h.services.state.shuttingDown = false;
    }
    const [row] = await h.services.db
      .select()
      .from(exportsTable)
      .where(eq(exportsTable.id, created.id));
    expect(row).toMatchObject({
      status: 'queued',
      leasedUntil: null,
      attempts: 0,
      bundleKey: null,
    });
    expect(await h.services.exports.due()).toContain(created.id);
    await h.services.exports.build(created.id);
    const path = join(dir, `export-resumed-${m.merchantId}.zip`);
    expect((await download(h.app, m.merchantKey, created.id, path)).status).toBe(200);
    expect((await verified(path)).ok).toBe(true);
  });
});

import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  createApp,
  createServices,
  loadConfig,
  type RunningServer,
  startServer,
} from '@quittance/api';
import {
  createTestDatabase,
  type FlakyProxy,
  startFlakyProxy,
  type TestDatabase,
} from '@quittance/test-tooling';
import { parsePublisherKeys, verifyBundle } from '@quittance/verifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QuittanceClient, QuittanceError } from '../src';

const ADMIN = 'client-test-admin-token-0123456789';
let database: TestDatabase;
let dir: string;
let server: RunningServer;
let proxy: FlakyProxy;
let apiKey: string;
let agentKey: string;
/** The service's publisher JWKS, which the tests pin (their root of trust). */
let publisher: unknown;

beforeAll(async () => {
  database = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'quittance-client-'));
  server = await startServer(
    loadConfig({
      PORT: '0',
      DATABASE_URL: database.url,
      QUITTANCE_DATA_DIR: dir,
      QUITTANCE_ADMIN_TOKEN: ADMIN,
      LOG_LEVEL: 'silent',
      // A checkpoint a second while the chain moves, so that proofs come quickly.
      QUITTANCE_CHECKPOINT_INTERVAL_S: '1',
    }),
  );
  proxy = await startFlakyProxy(server.url);
  const admin = (path: string, body: unknown) =>
    fetch(`${server.url}/admin/v1${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then((r) => r.json());
  await admin('/merchants', { merchantId: 'shop', jurisdiction: 'US' });
  apiKey = (await admin('/merchants/shop/api-keys', { role: 'merchant' })).apiKey;
  agentKey = (await admin('/merchants/shop/api-keys', { role: 'agent', agentId: 'agent-1' }))
    .apiKey;
  publisher = await (await fetch(`${server.url}/.well-known/quittance-publisher.json`)).json();
}, 60_000);
afterAll(async () => {
  await proxy?.close();
  await server?.close();
  await database?.drop();
  await rm(dir, { recursive: true, force: true });
});

const request = (callId: string) => ({
  callId,
  agentId: 'agent-1',
  bucket: 'checkout' as const,
  tool: 'complete_checkout',
  orderId: 'order-9',
  input: { cart: 'c-9' },
  output: { ok: true },
});

describe('the typed client against a live server', () => {
  it('issues, replays, reads by id and by order, and verifies', async () => {
    const client = new QuittanceClient({ baseUrl: server.url, apiKey });
    const { receipt, replayed } = await client.issueReceipt(request('call-a'));
    expect(replayed).toBe(false);
    expect((await client.issueReceipt(request('call-a'))).replayed).toBe(true);
    expect(await client.getReceipt(receipt.id)).toEqual(receipt);
    expect((await client.listByOrder('order-9')).map((r) => r.id)).toContain(receipt.id);
    const report = await client.verify(receipt);
    expect(report.claims.signature_valid.status).toBe('asserted');
    // No publisher pinned: the snapshot's signature is evidence not given (SPEC §10), as from
    // `quittance verify` without --publisher; it was checked against the service's own key.
    expect(report.claims.snapshot_authentic.status).toBe('unknown');
    const pinned = new QuittanceClient({ baseUrl: server.url, apiKey, publisher });
    expect((await pinned.verify(receipt)).claims.snapshot_authentic.status).toBe('asserted');
    // A bundle needs the pin (`quittance verify BUNDLE.zip --publisher`): refused without it.
    await expect(client.verifyBundle(new Uint8Array(0))).rejects.toMatchObject({
      name: 'QuittanceError',
      code: 'publisher_not_pinned',
    });
  });

  it('turns problem+json into typed errors', async () => {
    const client = new QuittanceClient({ baseUrl: server.url, apiKey });
    await client.issueReceipt(request('call-b'));
    const conflict = await client
      .issueReceipt({ ...request('call-b'), tool: 'other' })
      .catch((e) => e);
    expect(conflict).toBeInstanceOf(QuittanceError);
    expect(conflict).toMatchObject({ code: 'call_id_conflict', status: 409 });
    await expect(client.getReceipt('trcpt_missing')).rejects.toMatchObject({
      code: 'not_found',
      status: 404,
    });
    const invalid = await client
      .issueReceipt({ ...request('bad id!'), bucket: 'refund' as never })
      .catch((e) => e);
    expect(invalid.code).toBe('invalid_request');
    expect(invalid.problem.errors.map((e: { path: string }) => e.path)).toEqual([
      '/callId',
      '/bucket',
    ]);
    const agent = new QuittanceClient({ baseUrl: server.url, apiKey: agentKey });
    await expect(agent.createExport({ jurisdiction: 'US' })).rejects.toMatchObject({
      code: 'forbidden',
    });
    const nobody = new QuittanceClient({
      baseUrl: server.url,
      apiKey: 'qtk_0000000000000000_nope',
    });
    await expect(nobody.getReceipt('x')).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('retries issues and reads through 503s and dropped connections; the issue is stored once', async () => {
    const client = new QuittanceClient({ baseUrl: proxy.url, apiKey, retryDelayMs: 10 });
    proxy.failNext(2, 503);
    const first = await client.issueReceipt(request('call-c'));
    proxy.failNext(1, 'drop');
    expect((await client.getReceipt(first.receipt.id)).id).toBe(first.receipt.id);
    proxy.failNext(2, 'drop');
    const again = await client.issueReceipt(request('call-c'));
    expect(again).toMatchObject({ replayed: true, receipt: { id: first.receipt.id } });
    const ids = (await client.listByOrder('order-9')).filter((r) => r.callId === 'call-c');
    expect(ids).toHaveLength(1);
    proxy.failNext(10, 503);
    await expect(client.getReceipt(first.receipt.id)).rejects.toMatchObject({
      code: 'service_unavailable',
      status: 503,
    });
    proxy.failNext(0, 503);
    // A Retry-After past maxRetryAfterMs (60 s) is not waited out: the error, at once.
    const before = proxy.requests;
    proxy.failNext(1, 503, '3600');
    await expect(client.getReceipt(first.receipt.id)).rejects.toMatchObject({
      code: 'service_unavailable',
      retryAfterMs: 3_600_000,
    });
    expect(proxy.requests - before).toBe(1);
    proxy.failNext(0, 503);
    await expect(client.waitForProof(first.receipt.id, { timeoutMs: Number.NaN })).rejects.toThrow(
      RangeError,
    );
  });

  it("an agent waits for a receipt's proof, verifies it, and fetches and verifies the order's evidence", async () => {
    const merchant = new QuittanceClient({ baseUrl: server.url, apiKey, publisher });
    const order = (callId: string) => ({ ...request(callId), orderId: 'order-ev' });
    const { receipt: first } = await merchant.issueReceipt(order('ev-1'));
    const { receipt: second } = await merchant.issueReceipt(order('ev-2'));
    const agent = new QuittanceClient({ baseUrl: server.url, apiKey: agentKey, publisher });

    const proof = await agent.waitForProof(second.id, { timeoutMs: 30_000 });
    expect(proof).toMatchObject({ receiptId: second.id, seq: second.chain.seq });
    const report = await agent.verify(second, { proof, bodies: order('ev-2') });
    expect(report.claims.included_in_log?.status).toBe('asserted');
    expect(report.claims.signature_valid.status).toBe('asserted');
    expect(report.claims.body_matches?.status).toBe('asserted');
    // The same proof does not prove another receipt, nor a proof with a wrong path.
    expect((await agent.verify(first, { proof })).claims.included_in_log?.status).toBe('refuted');
    const bent = { ...proof, treeSize: proof.treeSize + 1 };
    expect((await agent.verify(second, { proof: bent })).claims.included_in_log?.status).toBe(
      'refuted',
    );
    // Asked for one checkpoint by its seq, the proof is against that one.
    const pinned = await agent.getProof(second.id, { checkpoint: proof.checkpoint.seq });
    expect(pinned.checkpoint.seq).toBe(proof.checkpoint.seq);
    // A service away for longer than one request's retries (a restart) is waited out.
    const throughProxy = new QuittanceClient({
      baseUrl: proxy.url,
      apiKey: agentKey,
      attempts: 2,
      retryDelayMs: 10,
    });
    proxy.failNext(5, 503);
    expect((await throughProxy.waitForProof(second.id, { timeoutMs: 30_000 })).seq).toBe(
      second.chain.seq,
    );
    // Errors other than not_checkpointed and unavailability are not waited out.
    await expect(agent.waitForProof('trcpt_missing')).rejects.toMatchObject({
      code: 'not_found',
    });

    // The evidence needs a checkpoint covering every receipt of the order (the second's does).
    const evidence = await agent.getOrderEvidence('order-ev');
    const verified = await agent.verifyBundle(evidence);
    expect(verified).toMatchObject({ ok: true, kind: 'order-evidence', orderId: 'order-ev' });
    expect(verified.receiptCount).toBe(2);
    expect(verified.counts.included_in_log?.asserted).toBe(2);
    const kept = await agent.verifyBundle(evidence, { keepReceipts: true });
    expect(kept.receipts.map((r) => r.id).sort()).toEqual([first.id, second.id].sort());
    // Pinned to another publisher key, the same bundle is refuted; cut short, it is unreadable.
    const published = publisher as { keys: object[] };
    const other = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
    const pinnedElsewhere = new QuittanceClient({
      baseUrl: server.url,
      apiKey: agentKey,
      publisher: { keys: published.keys.map((k: object) => ({ ...k, x: other.x })) },
    });
    const elsewhere = await pinnedElsewhere.verifyBundle(evidence);
    expect(elsewhere.ok).toBe(false);
    expect(elsewhere.claims.snapshot_authentic?.status).toBe('refuted');
    await expect(
      agent.verifyBundle(evidence.subarray(0, evidence.length - 100)),
    ).rejects.toMatchObject({ name: 'BundleError', code: 'unreadable' });
    await expect(agent.getOrderEvidence('order-ev', { includeBodies: true })).rejects.toMatchObject(
      { code: 'forbidden', status: 403 },
    );
    const withBodies = await merchant.getOrderEvidence('order-ev', { includeBodies: true });
    expect((await merchant.verifyBundle(withBodies)).counts.body_matches?.asserted).toBe(2);
  });

  it("an agent waits for an order's evidence until a checkpoint covers its newest receipt", async () => {
    const merchant = new QuittanceClient({ baseUrl: server.url, apiKey, publisher });
    const agent = new QuittanceClient({ baseUrl: server.url, apiKey: agentKey, publisher });
    const order = (callId: string) => ({ ...request(callId), orderId: 'order-wait' });
    await merchant.issueReceipt(order('wait-1'));
    const { receipt: newest } = await merchant.issueReceipt(order('wait-2'));
    // Asked at once, no checkpoint covers the newest yet (one comes each second).
    await expect(agent.getOrderEvidence('order-wait')).rejects.toMatchObject({
      code: 'not_checkpointed',
      status: 404,
    });
    const evidence = await agent.waitForOrderEvidence('order-wait', { timeoutMs: 30_000 });
    const verified = await agent.verifyBundle(evidence, { keepReceipts: true });
    expect(verified).toMatchObject({ ok: true, kind: 'order-evidence', receiptCount: 2 });
    expect(verified.counts.included_in_log?.asserted).toBe(2);
    expect(verified.receipts.map((r) => r.id)).toContain(newest.id);
    // Through a service away for longer than one request's retries, too; with the bodies.
    const throughProxy = new QuittanceClient({
      baseUrl: proxy.url,
      apiKey,
      attempts: 2,
      retryDelayMs: 10,
    });
    proxy.failNext(5, 503);
    const withBodies = await throughProxy.waitForOrderEvidence('order-wait', {
      includeBodies: true,
      timeoutMs: 30_000,
    });
    expect((await merchant.verifyBundle(withBodies)).counts.body_matches?.asserted).toBe(2);
    // An order with nothing to show is 404 at once, not waited for; nor is a refusal.
    const started = Date.now();
    await expect(
      agent.waitForOrderEvidence('order-none', { timeoutMs: 30_000 }),
    ).rejects.toMatchObject({ code: 'not_found', status: 404 });
    await expect(
      agent.waitForOrderEvidence('order-wait', { includeBodies: true, timeoutMs: 30_000 }),
    ).rejects.toMatchObject({ code: 'forbidden', status: 403 });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('creates, waits for, downloads and verifies an export', async () => {
    const client = new QuittanceClient({ baseUrl: server.url, apiKey });
    const created = await client.createExport({ jurisdiction: 'US', includeBodies: true });
    const done = await client.waitForExport(created.id, { intervalMs: 100 });
    expect(done.status).toBe('done');
    const zip = await client.downloadExport(created.id);
    const path = join(dir, 'client.zip');
    await writeFile(path, zip);
    const publisher = parsePublisherKeys(
      await (await fetch(`${server.url}/.well-known/quittance-publisher.json`)).json(),
    );
    expect((await verifyBundle(path, { publisher })).ok).toBe(true);
  });
});

describe('generated types', () => {
  it('match the API document the server serves now (regenerate with npm run generate -w @quittance/client)', async () => {
    const services = await createServices(
      loadConfig({
        QUITTANCE_DATA_DIR: await mkdtemp(join(tmpdir(), 'openapi-')),
        QUITTANCE_ADMIN_TOKEN: ADMIN,
        LOG_LEVEL: 'silent',
      }),
    );
    try {
      const served = await (await createApp(services).request('/openapi.json')).json();
      delete served.servers;
      const committed = JSON.parse(
        await readFile(resolve(import.meta.dirname, '../openapi.json'), 'utf8'),
      );
      expect(served).toEqual(committed);
    } finally {
      await services.close();
    }
  }, 60_000);
});

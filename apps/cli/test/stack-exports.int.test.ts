import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTestDatabase,
  freePort,
  type S3TestServer,
  spawnProcess,
  startS3Server,
  TEST_REDIS_URL,
  type TestDatabase,
  until,
} from '@quittance/test-tooling';
import { parsePublisherKeys, verifyBundle } from '@quittance/verifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningStack, startStack } from '../src/stack';

/**
 * The shared-nothing production shape as real processes: two API processes and a worker, each
 * with a data folder of its own, on one PostgreSQL, one Redis and one S3-protocol server
 * (s3rver, the real AWS SDK). An export asked of one API process is built by the worker and
 * downloaded, identical, from either; an S3 outage during a build only delays it; a replica
 * killed while streaming a bundle leaves the stored bundle whole.
 */
const BUCKET = 'quittance';
let s3: S3TestServer;
let database: TestDatabase;
let stackDir: string;
let running: RunningStack;
let auditorKey: string;
let merchantKey: string;
const workDir = await mkdtemp(join(tmpdir(), 'quittance-stack-exports-'));

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const api = (i: number) => running.apis[i]?.url as string;

async function admin(path: string, body: unknown) {
  const res = await fetch(`${api(0)}/admin/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${running.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as Record<string, string>;
}

async function call(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}/api/v1/trust${path}`, {
    method,
    headers: {
      authorization: `Bearer ${method === 'POST' && path === '/receipts' ? merchantKey : auditorKey}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

/** Issues `count` receipts with `bodyBytes` of incompressible text each, alternating APIs. */
async function issue(prefix: string, count: number, bodyBytes: number) {
  let next = 0;
  const one = async () => {
    while (next < count) {
      const i = next++;
      const r = await call(api(i % 2), 'POST', '/receipts', {
        callId: `${prefix}-${i}`,
        agentId: 'agent-1',
        bucket: 'checkout',
        tool: 'complete_checkout',
        orderId: `order-${i % 7}`,
        input: { blob: randomBytes((bodyBytes * 3) / 4).toString('base64') },
        output: { ok: true, i },
      });
      expect(r.status).toBe(201);
    }
  };
  await Promise.all(Array.from({ length: 6 }, one));
}

async function download(base: string, id: string) {
  const res = await fetch(`${base}/api/v1/trust/exports/${id}/download`, {
    headers: { authorization: `Bearer ${auditorKey}` },
  });
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}

async function verify(bytes: Uint8Array) {
  const path = join(workDir, `${sha256(bytes)}.zip`);
  await writeFile(path, bytes);
  const publisher = parsePublisherKeys(
    await (await fetch(`${api(0)}/.well-known/quittance-publisher.json`)).json(),
  );
  return verifyBundle(path, { publisher });
}

async function exportStatus(base: string, id: string) {
  return (await call(base, 'GET', `/exports/${id}`)).body;
}

/** Every file name under a folder, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

beforeAll(async () => {
  s3 = await startS3Server({ buckets: [BUCKET] });
  database = await createTestDatabase();
  stackDir = await mkdtemp(join(tmpdir(), 'quittance-stack-'));
  running = await startStack({
    databaseUrl: database.url,
    redisUrl: TEST_REDIS_URL,
    dataDir: stackDir,
    ports: [await freePort(), await freePort()],
    workers: 1,
    bundleStore: {
      QUITTANCE_BUNDLE_STORE: `s3://${BUCKET}/exports`,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_REGION: s3.region,
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
      QUITTANCE_S3_MAX_ATTEMPTS: '2',
    },
    env: {
      LOG_LEVEL: 'info',
      QUITTANCE_QUEUE_NAME: `test-${randomUUID()}`,
      QUITTANCE_SWEEP_INTERVAL_MS: '200',
      QUITTANCE_RETRY_MAX_MS: '1000',
      QUITTANCE_SHUTDOWN_DELAY_MS: '100',
    },
    launch: spawnProcess,
  });
  await admin('/merchants', { merchantId: 'shop', jurisdiction: 'EU' });
  merchantKey = (await admin('/merchants/shop/api-keys', { role: 'merchant' })).apiKey as string;
  auditorKey = (await admin('/merchants/shop/api-keys', { role: 'auditor' })).apiKey as string;
}, 120_000);

afterAll(async () => {
  await running?.stop();
  await s3?.close();
  await database?.drop();
  await rm(stackDir, { recursive: true, force: true });
  await rm(workDir, { recursive: true, force: true });
});

describe('shared-nothing replicas: bundles in S3, keys in PostgreSQL', () => {
  let bigExport: { id: string; sha256: string };

  it('an export asked of API A, built by the worker, downloads identical from A and B and verifies', async () => {
    await issue('small', 20, 2_000);
    const created = await call(api(0), 'POST', '/exports', {
      jurisdiction: 'EU',
      includeBodies: true,
    });
    expect(created.status).toBe(202);
    const id = created.body.id as string;
    const done = await until(async () => {
      const status = await exportStatus(api(1), id);
      if (status.status === 'failed') throw new Error(status.error);
      return status.status === 'done' && status;
    }, 60_000);
    const fromA = await download(api(0), id);
    const fromB = await download(api(1), id);
    expect([fromA.res.status, fromB.res.status]).toEqual([200, 200]);
    expect(sha256(fromA.bytes)).toBe(sha256(fromB.bytes));
    expect(sha256(fromA.bytes)).toBe(done.sha256);
    expect(fromB.res.headers.get('x-content-sha256')).toBe(done.sha256);
    const report = await verify(fromB.bytes);
    expect(report.ok).toBe(true);
    expect(report.receiptCount).toBe(20);
    expect(report.counts.body_matches?.asserted).toBe(20);
    expect(report.counts.signature_valid?.asserted).toBe(20);
    // Built by the worker, not by either API process (jobs run on Redis).
    const [worker] = running.workers as ReturnType<typeof spawnProcess>[];
    expect(worker?.stdout()).toContain(id);
    for (const a of running.apis)
      expect((a.process as ReturnType<typeof spawnProcess>).stdout()).not.toMatch(
        new RegExp(`"exportId":"${id}"[^\\n]*export built`),
      );
    // Nothing shared on disk: no key file, no bundle, no token in any process's data folder.
    const processFolders = (await readdir(stackDir)).filter((n) => /^(api|worker)-\d+$/.test(n));
    expect(processFolders.sort()).toEqual(['api-1', 'api-2', 'worker-1']);
    for (const name of processFolders) {
      const files = await filesUnder(join(stackDir, name));
      expect(
        files.filter((f) => /publisher\.jwk|vault\.key|\/keys\/|\/exports\/|admin-token/.test(f)),
      ).toEqual([]);
    }
  }, 120_000);

  it('S3 stopped during an export: never done half written; done, whole, once S3 is back', async () => {
    await issue('big', 240, 100_000);
    const before = s3.counts.UploadPart ?? 0;
    const created = await call(api(0), 'POST', '/exports', {
      jurisdiction: 'EU',
      includeBodies: true,
    });
    const id = created.body.id as string;
    // The outage hits an upload in progress: parts are on the server, the zip is not finished.
    await until(async () => (s3.counts.UploadPart ?? 0) > before, 60_000, 5);
    await s3.stop();
    const seen: string[] = [];
    try {
      const failed = await until(
        async () => {
          const status = await exportStatus(api(1), id);
          seen.push(status.status);
          return status.error && status;
        },
        30_000,
        50,
      );
      expect(failed.status).not.toBe('done');
      expect(failed.sha256).toBeNull();
      // For a while longer: retried, never done, never served.
      for (let i = 0; i < 10; i++) {
        seen.push((await exportStatus(api(0), id)).status);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect((await download(api(0), id)).res.status).toBe(409);
    } finally {
      await s3.start();
    }
    expect(seen.filter((s) => s === 'done' || s === 'failed')).toEqual([]);
    const done = await until(async () => {
      const status = await exportStatus(api(1), id);
      return status.status === 'done' && status;
    }, 60_000);
    const fromB = await download(api(1), id);
    const fromA = await download(api(0), id);
    expect(sha256(fromA.bytes)).toBe(sha256(fromB.bytes));
    expect(sha256(fromB.bytes)).toBe(done.sha256);
    expect(fromB.bytes.length).toBeGreaterThan(12 * 1024 * 1024);
    // The multipart upload the outage cut is still there, never an object: the retention
    // job's sweep (or the bucket's lifecycle rule) removes it.
    expect((await s3.pendingUploads(BUCKET)).map((u) => u.key)).toEqual([
      `exports/EU/shop/${id}.zip`,
    ]);
    const report = await verify(fromB.bytes);
    expect(report.ok).toBe(true);
    expect(report.counts.body_matches?.asserted).toBe(260);
    bigExport = { id, sha256: done.sha256 };
  }, 240_000);

  it('a replica killed with SIGKILL while streaming a download leaves the stored bundle whole', async () => {
    expect(bigExport).toBeDefined();
    const res = await fetch(`${api(1)}/api/v1/trust/exports/${bigExport.id}/download`, {
      headers: { authorization: `Bearer ${auditorKey}` },
    });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let received = 0;
    while (received < 1024 * 1024) received += (await reader.read()).value?.length ?? 0;
    await running.apis[1]?.process.stop('SIGKILL');
    // The client sees the stream break: fewer bytes than announced, or an error.
    let broken = false;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += value.length;
      }
    } catch {
      broken = true;
    }
    expect(broken || received < Number(res.headers.get('content-length'))).toBe(true);
    const again = await download(api(0), bigExport.id);
    expect(again.res.status).toBe(200);
    expect(sha256(again.bytes)).toBe(bigExport.sha256);
    expect((await verify(again.bytes)).ok).toBe(true);
  }, 120_000);
});

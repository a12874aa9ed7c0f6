import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { bundleKey } from '@quittance/bundle-store';
import { exports as exportsTable } from '@quittance/db';
import { type S3TestServer, startS3Server, until } from '@quittance/test-tooling';
import { parsePublisherKeys, verifyBundle } from '@quittance/verifier';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config';
import { deleteExpiredBundles } from '../src/exports/retention';
import { createHarness, type Harness, issueBody } from './harness';

/**
 * Export bundles in the bundle store, through the API: on an S3-protocol server (s3rver, the
 * real AWS SDK), and in the data folder (the embedded default). Downloads stream from the
 * store or redirect to a presigned URL; an unreachable store is 503 with Retry-After and only
 * delays a build; retention deletes bundles.
 */
const BUCKET = 'quittance';
let s3: S3TestServer;
let dir: string;

const s3Env = (server: S3TestServer, more: Record<string, string> = {}) => ({
  QUITTANCE_BUNDLE_STORE: `s3://${BUCKET}/exports`,
  AWS_ENDPOINT_URL_S3: server.endpoint,
  AWS_REGION: server.region,
  AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
  QUITTANCE_S3_MAX_ATTEMPTS: '2',
  ...more,
});

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

async function issueSome(h: Harness, key: string, n: number) {
  for (let i = 0; i < n; i++) {
    const r = await h.call('POST', '/api/v1/trust/receipts', { key, body: issueBody() });
    expect(r.status).toBe(201);
  }
}

async function requestExport(h: Harness, key: string): Promise<string> {
  const created = await h.call('POST', '/api/v1/trust/exports', {
    key,
    body: { jurisdiction: 'EU', includeBodies: true },
  });
  expect(created.status).toBe(202);
  return created.body.id as string;
}

async function waitDone(h: Harness, key: string, id: string, timeoutMs = 30_000) {
  return until(
    async () => {
      const r = await h.call('GET', `/api/v1/trust/exports/${id}`, { key });
      if (r.body.status === 'failed') throw new Error(`export failed: ${r.body.error}`);
      return r.body.status === 'done' && r.body;
    },
    timeoutMs,
    100,
  );
}

async function downloadBytes(h: Harness, key: string, id: string) {
  const res = await h.app.request(`/api/v1/trust/exports/${id}/download`, {
    headers: { authorization: `Bearer ${key}` },
  });
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}

async function verifies(h: Harness, bytes: Uint8Array) {
  const path = join(dir, `${sha256(bytes).slice(0, 12)}.zip`);
  await writeFile(path, bytes);
  const publisher = parsePublisherKeys(
    (await h.call('GET', '/.well-known/quittance-publisher.json')).body,
  );
  return verifyBundle(path, { publisher });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'quittance-store-'));
  s3 = await startS3Server({ buckets: [BUCKET] });
});
afterAll(async () => {
  await s3?.close();
});

describe('export bundles on S3', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({
      jobs: true,
      env: s3Env(s3, { QUITTANCE_SWEEP_INTERVAL_MS: '100', QUITTANCE_RETRY_MAX_MS: '500' }),
    });
  });
  afterAll(() => h?.close());

  it('builds into the bucket under <jurisdiction>/<merchant>/<id>.zip and streams it back', async () => {
    const m = await h.merchant();
    await issueSome(h, m.merchantKey, 5);
    const id = await requestExport(h, m.auditorKey);
    const done = await waitDone(h, m.auditorKey, id);
    const key = bundleKey({ jurisdiction: 'EU', merchantId: m.merchantId, exportId: id });
    // s3rver keeps an object's bytes in `<key>._S3rver_object`.
    const stored = await readFile(join(s3.directory, BUCKET, 'exports', `${key}._S3rver_object`));
    const { res, bytes } = await downloadBytes(h, m.auditorKey, id);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-length')).toBe(String(stored.length));
    expect(sha256(bytes)).toBe(sha256(stored));
    expect(res.headers.get('x-content-sha256')).toBe(sha256(bytes));
    expect(done).toMatchObject({ bytes: stored.length, sha256: sha256(stored) });
    expect((await verifies(h, bytes)).ok).toBe(true);
    // Another merchant's key does not reach it, whichever store holds it.
    const other = await h.merchant();
    expect((await downloadBytes(h, other.auditorKey, id)).res.status).toBe(404);
  });

  it('answers 503 with Retry-After while the store is down, and the bundle again once it is back', async () => {
    const m = await h.merchant();
    await issueSome(h, m.merchantKey, 2);
    const id = await requestExport(h, m.auditorKey);
    await waitDone(h, m.auditorKey, id);
    const before = await downloadBytes(h, m.auditorKey, id);
    await s3.stop();
    try {
      const { res } = await downloadBytes(h, m.auditorKey, id);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    } finally {
      await s3.start();
    }
    const after = await downloadBytes(h, m.auditorKey, id);
    expect(after.res.status).toBe(200);
    expect(sha256(after.bytes)).toBe(sha256(before.bytes));
  });

  it('an outage during a build only delays it: never done half written, done once S3 is back', async () => {
    const m = await h.merchant();
    await issueSome(h, m.merchantKey, 3);
    await s3.stop();
    let id = '';
    const seen = new Set<string>();
    try {
      id = await requestExport(h, m.auditorKey);
      // More failed attempts than an export is normally allowed (5), each retried after a
      // capped backoff: the store's outage does not use them up.
      await until(
        async () => {
          const [row] = await h.services.db
            .select()
            .from(exportsTable)
            .where(eq(exportsTable.id, id));
          seen.add(row?.status as string);
          return (row?.attempts ?? 0) >= 7 && row;
        },
        30_000,
        50,
      );
      const status = await h.call('GET', `/api/v1/trust/exports/${id}`, { key: m.auditorKey });
      expect(['queued', 'running']).toContain(status.body.status);
      expect(status.body.sha256).toBeNull();
      expect((await downloadBytes(h, m.auditorKey, id)).res.status).toBe(409);
      const [row] = await h.services.db.select().from(exportsTable).where(eq(exportsTable.id, id));
      expect(row?.error).toMatch(/ECONNREFUSED|unavailable|connect/i);
      expect(row?.bundleKey).toBeNull();
    } finally {
      await s3.start();
    }
    expect(seen.has('done')).toBe(false);
    expect(seen.has('failed')).toBe(false);
    await waitDone(h, m.auditorKey, id);
    const { res, bytes } = await downloadBytes(h, m.auditorKey, id);
    expect(res.status).toBe(200);
    expect((await verifies(h, bytes)).ok).toBe(true);
  });

  it('retention deletes the bundles whose jurisdiction retention ended; their download is 404', async () => {
    const m = await h.merchant();
    await issueSome(h, m.merchantKey, 1);
    const oldId = await requestExport(h, m.auditorKey);
    await waitDone(h, m.auditorKey, oldId);
    const recentId = await requestExport(h, m.auditorKey);
    await waitDone(h, m.auditorKey, recentId);
    // Built 6 years and a day ago: past EU's 6 years.
    await h.services.db
      .update(exportsTable)
      .set({ finishedAt: sql`now() - interval '6 years 1 day'` })
      .where(eq(exportsTable.id, oldId));
    const oldKey = bundleKey({ jurisdiction: 'EU', merchantId: m.merchantId, exportId: oldId });
    expect(await h.services.bundles.exists(oldKey)).toBe(true);
    const deleted = await deleteExpiredBundles(h.services);
    expect(deleted).toContainEqual({ exportId: oldId, jurisdiction: 'EU' });
    expect(deleted.map((d) => d.exportId)).not.toContain(recentId);
    expect(await h.services.bundles.exists(oldKey)).toBe(false);
    const gone = await downloadBytes(h, m.auditorKey, oldId);
    expect(gone.res.status).toBe(404);
    expect(JSON.parse(new TextDecoder().decode(gone.bytes)).detail).toMatch(/retention/);
    expect((await downloadBytes(h, m.auditorKey, recentId)).res.status).toBe(200);
    expect(await deleteExpiredBundles(h.services)).not.toContainEqual({
      exportId: oldId,
      jurisdiction: 'EU',
    });
  });
});

describe('downloads through presigned URLs (QUITTANCE_BUNDLE_URL_TTL_S)', () => {
  it('302 to a URL of the bucket, not cached, that serves the same bytes without the API key', async () => {
    const h = await createHarness({
      jobs: true,
      env: s3Env(s3, { QUITTANCE_SWEEP_INTERVAL_MS: '100', QUITTANCE_BUNDLE_URL_TTL_S: '60' }),
    });
    try {
      const m = await h.merchant();
      await issueSome(h, m.merchantKey, 2);
      const id = await requestExport(h, m.auditorKey);
      const done = await waitDone(h, m.auditorKey, id);
      const { res } = await downloadBytes(h, m.auditorKey, id);
      expect(res.status).toBe(302);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const location = new URL(res.headers.get('location') as string);
      expect(location.origin).toBe(s3.endpoint);
      expect(location.searchParams.get('X-Amz-Expires')).toBe('60');
      const fetched = await fetch(location);
      expect(fetched.status).toBe(200);
      const bytes = new Uint8Array(await fetched.arrayBuffer());
      expect(sha256(bytes)).toBe(done.sha256);
      expect((await verifies(h, bytes)).ok).toBe(true);
    } finally {
      await h.close();
    }
  });
});

describe('export bundles in the data folder (the embedded default)', () => {
  it('are files under <data folder>/exports; a bundle of an earlier version stays downloadable', async () => {
    const h = await createHarness({ jobs: true, env: { QUITTANCE_SWEEP_INTERVAL_MS: '100' } });
    try {
      expect(h.services.bundles.location).toBe(
        `file://${join(h.services.config.dataDir, 'exports')}`,
      );
      const m = await h.merchant();
      await issueSome(h, m.merchantKey, 2);
      const id = await requestExport(h, m.auditorKey);
      await waitDone(h, m.auditorKey, id);
      const key = bundleKey({ jurisdiction: 'EU', merchantId: m.merchantId, exportId: id });
      const file = join(h.services.config.dataDir, 'exports', key);
      const first = await downloadBytes(h, m.auditorKey, id);
      expect(sha256(first.bytes)).toBe(sha256(await readFile(file)));
      // Where earlier versions kept it, with the key migration 0006 gives such rows.
      const legacy = join(h.services.config.dataDir, 'exports', `${id}.zip`);
      await mkdir(dirname(legacy), { recursive: true });
      await rename(file, legacy);
      await h.services.db
        .update(exportsTable)
        .set({ bundleKey: `${id}.zip` })
        .where(eq(exportsTable.id, id));
      const again = await downloadBytes(h, m.auditorKey, id);
      expect(again.res.status).toBe(200);
      expect(sha256(again.bytes)).toBe(sha256(first.bytes));
    } finally {
      await h.close();
    }
  });
});

describe('configuration', () => {
  it('a malformed bundle store stops the start with the variable named', () => {
    const attempt = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (error) {
        return error as Error;
      }
      throw new Error('expected a ConfigError');
    };
    const bad = attempt({ QUITTANCE_BUNDLE_STORE: 'https://bucket.example/exports' });
    expect(bad).toBeInstanceOf(ConfigError);
    expect(bad.message).toMatch(/QUITTANCE_BUNDLE_STORE: /);
    const ttl = attempt({ ...s3Env(s3), QUITTANCE_BUNDLE_URL_TTL_S: 'soon' });
    expect(ttl).toBeInstanceOf(ConfigError);
    expect(ttl.message).toMatch(/QUITTANCE_BUNDLE_URL_TTL_S: /);
  });
});

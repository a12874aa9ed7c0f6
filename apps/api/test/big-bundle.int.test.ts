import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  createTestDatabase,
  type S3TestServer,
  startS3Server,
  type TestDatabase,
  until,
} from '@quittance/test-tooling';
import { parsePublisherKeys, verifyBundle } from '@quittance/verifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config';
import { createApp } from '../src/http/app';
import { createServices, type Services } from '../src/services';
import { ADMIN_TOKEN, type SpawnedApi, startSpawnedApi } from './faults/spawned-api';

/**
 * A bundle of QUITTANCE_TEST_BUNDLE_MB (default 200) megabytes, bodies included, asked of a
 * real `quittance serve` process (jobs in-process), built by it and streamed into an
 * S3-protocol server while it is written: that process's peak RSS stays under 300 MB, and the
 * bundle downloads through it identical to what S3 stores, and verifies. The receipts are
 * issued by this test process through the same app on the same database and
 * QUITTANCE_LOCAL_KEK (a second replica, in effect), so the figure is the export's alone.
 */
const TARGET_MB = Number(process.env.QUITTANCE_TEST_BUNDLE_MB ?? 200);
const PEAK_RSS_LIMIT_MB = 300;
/** Bytes of body per receipt: base64 of random bytes, which deflate shrinks to about 76 %. */
const BODY_BYTES = 200_000;
const BUCKET = 'quittance';
const KEK = randomBytes(32).toString('base64url');

let s3: S3TestServer;
let database: TestDatabase;
let spawned: SpawnedApi;
let issuing: Services;
let dir: string;

/** The process's peak resident set so far (VmHWM), in MB. */
async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'quittance-big-'));
  s3 = await startS3Server({ buckets: [BUCKET] });
  database = await createTestDatabase();
  spawned = await startSpawnedApi({
    DATABASE_URL: database.url,
    QUITTANCE_LOCAL_KEK: KEK,
    QUITTANCE_BUNDLE_STORE: `s3://${BUCKET}/exports`,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_REGION: s3.region,
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    QUITTANCE_SWEEP_INTERVAL_MS: '200',
  });
  issuing = await createServices(
    loadConfig({
      DATABASE_URL: database.url,
      QUITTANCE_LOCAL_KEK: KEK,
      QUITTANCE_DATA_DIR: join(dir, 'issuing'),
      QUITTANCE_ADMIN_TOKEN: ADMIN_TOKEN,
      QUITTANCE_MAX_BODY_BYTES: String(2 * 1024 * 1024),
      LOG_LEVEL: 'silent',
    }),
  );
}, 120_000);

afterAll(async () => {
  await issuing?.close();
  await spawned?.close();
  await s3?.close();
  await database?.drop();
  await rm(dir, { recursive: true, force: true });
});

describe(`a ${TARGET_MB} MB bundle with bodies, through the API into S3`, () => {
  it(`peak RSS of the API process under ${PEAK_RSS_LIMIT_MB} MB; downloads identical and verifies`, async () => {
    const pid = spawned.api.child.pid as number;
    const key = await spawned.merchant('big');
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const app = createApp(issuing);
    const count = Math.ceil((TARGET_MB * 1024 * 1024) / (BODY_BYTES * 0.74));
    const started = performance.now();
    let next = 0;
    const issuer = async () => {
      while (next < count) {
        const i = next++;
        const res = await app.request('/api/v1/trust/receipts', {
          method: 'POST',
          headers,
          body: JSON.stringify({
            callId: `big-${i}`,
            agentId: 'agent-1',
            bucket: 'checkout',
            tool: 'complete_checkout',
            input: { blob: randomBytes((BODY_BYTES * 3) / 4).toString('base64') },
            output: { ok: true, i },
          }),
        });
        expect(res.status).toBe(201);
        await res.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: 4 }, issuer));
    const issuedS = (performance.now() - started) / 1000;
    const atStart = await peakRssMb(pid);

    const created = await fetch(`${spawned.base}/api/v1/trust/exports`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jurisdiction: 'EU', includeBodies: true }),
    });
    const { id } = (await created.json()) as { id: string };
    const buildStarted = performance.now();
    const done = await until(
      async () => {
        const status = (await (
          await fetch(`${spawned.base}/api/v1/trust/exports/${id}`, { headers })
        ).json()) as { status: string; bytes: number; sha256: string; error: string | null };
        if (status.status === 'failed') throw new Error(status.error ?? 'failed');
        return status.status === 'done' && status;
      },
      600_000,
      500,
    );
    const builtS = (performance.now() - buildStarted) / 1000;
    const afterBuild = await peakRssMb(pid);
    expect(done.bytes).toBeGreaterThanOrEqual(TARGET_MB * 1_000_000);
    expect(s3.counts.UploadPart ?? 0).toBeGreaterThan(TARGET_MB / 8 - 1);

    const path = join(dir, 'big.zip');
    const res = await fetch(`${spawned.base}/api/v1/trust/exports/${id}/download`, { headers });
    expect(res.status).toBe(200);
    await pipeline(Readable.fromWeb(res.body as never), createWriteStream(path));
    const downloaded = await sha256File(path);
    expect(downloaded).toBe(done.sha256);
    const stored = join(s3.directory, BUCKET, 'exports', 'EU', 'big', `${id}.zip._S3rver_object`);
    expect(await sha256File(stored)).toBe(downloaded);
    const peak = await peakRssMb(pid);

    const publisher = parsePublisherKeys(
      await (await fetch(`${spawned.base}/.well-known/quittance-publisher.json`)).json(),
    );
    const report = await verifyBundle(path, { publisher });
    console.log(
      `big bundle: ${count} receipts issued in ${issuedS.toFixed(1)} s; ${(done.bytes / 1e6).toFixed(0)} MB built into S3 in ${builtS.toFixed(1)} s; API peak RSS ${peak.toFixed(0)} MB (${atStart.toFixed(0)} before the export, ${afterBuild.toFixed(0)} once built)`,
    );
    expect(report.ok).toBe(true);
    expect(report.counts.body_matches?.asserted).toBe(count);
    expect(peak).toBeLessThan(PEAK_RSS_LIMIT_MB);
  }, 900_000);
});

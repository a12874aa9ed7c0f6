import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { writeBundle } from '@quittance/bundle';
import { type S3TestServer, startS3Server, until } from '@quittance/test-tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BundleStore, bundleStoreFromEnv } from '../src';
import { createS3Client, S3BundleStore } from '../src/s3';
import { describeBundleStore } from './contract';
import { digestOf, put, rejection, sha256 } from './helpers';

const BUCKET = 'quittance';

describeBundleStore('S3BundleStore', async () => {
  const s3 = await startS3Server({ buckets: [BUCKET] });
  const store = new S3BundleStore({
    client: createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials }),
    bucket: BUCKET,
    prefix: 'exports',
    partSize: 5 * 1024 * 1024,
  });
  return {
    store,
    leftovers: async () => (await s3.pendingUploads(BUCKET)).length,
    close: async () => {
      await store.close();
      await s3.close();
    },
  };
});

describe('S3BundleStore through the real AWS SDK and an S3-protocol server', () => {
  let s3: S3TestServer;
  let store: BundleStore;
  const env = () => ({
    QUITTANCE_BUNDLE_STORE: `s3://${BUCKET}/tenant-a/exports/`,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
  });

  beforeAll(async () => {
    s3 = await startS3Server({ buckets: [BUCKET] });
    store = await bundleStoreFromEnv({ ...env(), QUITTANCE_BUNDLE_URL_TTL_S: '120' }, '/unused');
  });
  afterAll(async () => {
    await store.close();
    await s3.close();
  });

  it('is configured from the environment: bucket, prefix, endpoint with path-style', async () => {
    expect(store.location).toBe(`s3://${BUCKET}/tenant-a/exports/`);
    const data = randomBytes(9 * 1024 * 1024);
    await put(store, 'EU/acme/exp_env.zip', data);
    // Path-style addressing put it in the bucket's folder under the prefix.
    const direct = new S3BundleStore({
      client: createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials }),
      bucket: BUCKET,
    });
    const raw = await direct.open('tenant-a/exports/EU/acme/exp_env.zip');
    expect(await digestOf(raw.stream)).toEqual({ sha256: sha256(data), bytes: data.length });
    await direct.close();
  });

  it('uploads parts while the bundle is written and completes the upload only at commit', async () => {
    const before = { ...s3.counts };
    const write = await store.create('EU/acme/exp_parts.zip');
    const produced = Readable.from(
      (async function* () {
        for (let i = 0; i < 20; i++) yield randomBytes(1024 * 1024);
      })(),
    );
    await pipeline(produced, write.stream);
    const delta = (op: string) => (s3.counts[op] ?? 0) - (before[op] ?? 0);
    // Every part reaches the store without a commit (8 + 8 + 4 MiB) …
    await until(async () => delta('UploadPart') === 3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(delta('CompleteMultipartUpload')).toBe(0);
    expect(await store.exists('EU/acme/exp_parts.zip')).toBe(false);
    const info = await write.commit();
    expect(info.bytes).toBe(20 * 1024 * 1024);
    // … and the commit only completes the upload.
    expect(delta('UploadPart')).toBe(3);
    expect(delta('CompleteMultipartUpload')).toBe(1);
    expect(delta('PutObject')).toBe(0);
  });

  it('takes a zip from the bundle writer as it is written, and stores exactly those bytes', async () => {
    const write = await store.create('EU/acme/exp_zip.zip');
    const empty = async function* () {};
    const result = await writeBundle(
      write.stream,
      {
        bundleId: 'exp_zip',
        merchantId: 'acme',
        jurisdiction: 'EU',
        range: {
          from: '2026-01-01T00:00:00.000Z',
          to: '2026-02-01T00:00:00.000Z',
          orderId: null,
          firstSeq: null,
          lastSeq: null,
        },
        createdAt: '2026-02-01T00:00:00.000Z',
        includeBodies: false,
      },
      {
        chainEntries: empty,
        receipts: empty,
        checkpoints: empty,
        snapshots: async () => [],
        log: async () => ({ size: 0, frontier: [] }),
      },
      async () => 'header..signature',
    );
    const info = await write.commit();
    expect(info.bytes).toBe(result.bytes);
    const stored = await digestOf((await store.open('EU/acme/exp_zip.zip')).stream);
    expect(stored).toEqual({ sha256: result.sha256, bytes: result.bytes });
  });

  it('gives a short-lived presigned URL that downloads the same bytes under the file name', async () => {
    const data = randomBytes(300_000);
    await put(store, 'US/acme/exp_url.zip', data);
    const url = await store.downloadUrl('US/acme/exp_url.zip', { filename: 'bundle.zip' });
    expect(url).toMatch(/X-Amz-Expires=120/);
    const answer = await fetch(url as string);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-disposition')).toBe('attachment; filename="bundle.zip"');
    expect(sha256(Buffer.from(await answer.arrayBuffer()))).toBe(sha256(data));

    const streaming = await bundleStoreFromEnv(env(), '/unused');
    expect(await streaming.downloadUrl('US/acme/exp_url.zip')).toBeNull();
    await streaming.close();
  });

  it('maps a missing bucket to store_misconfigured and a closed port to store_unavailable', async () => {
    const noBucket = await bundleStoreFromEnv(
      { ...env(), QUITTANCE_BUNDLE_STORE: 's3://no-such-bucket/x' },
      '/unused',
    );
    expect((await rejection(noBucket.open('EU/a/b.zip'))).code).toBe('store_misconfigured');
    const write = await noBucket.create('EU/a/b.zip');
    await pipeline(Readable.from([randomBytes(1_000)]), write.stream);
    expect((await rejection(write.commit())).code).toBe('store_misconfigured');
    await write.abort();
    await noBucket.close();

    const closed = await bundleStoreFromEnv(
      { ...env(), AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9', QUITTANCE_S3_MAX_ATTEMPTS: '2' },
      '/unused',
    );
    const started = Date.now();
    const error = await rejection(closed.open('EU/a/b.zip'));
    expect(error.code).toBe('store_unavailable');
    expect(error).toMatchObject({ retryable: true });
    expect(Date.now() - started).toBeLessThan(5_000);
    await closed.close();
  });
});

import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type S3TestServer, startS3Server, until } from '@quittance/test-tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, S3BundleStore } from '../src/s3';
import { digestOf, put, rejection, sha256 } from './helpers';

const BUCKET = 'quittance';
const MiB = 1024 * 1024;

/** A producer that writes 1 MiB every 20 ms, like an export reading the database. */
function slowBundle(mebibytes: number) {
  return Readable.from(
    (async function* () {
      for (let i = 0; i < mebibytes; i++) {
        yield randomBytes(MiB);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })(),
  );
}

describe('S3BundleStore when the S3 server stops during an upload', () => {
  let s3: S3TestServer;
  let store: S3BundleStore;

  beforeAll(async () => {
    s3 = await startS3Server({ buckets: [BUCKET] });
    store = new S3BundleStore({
      client: createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials }),
      bucket: BUCKET,
      prefix: 'exports',
      partSize: 5 * MiB,
    });
  });
  afterAll(async () => {
    await store.close();
    await s3.close();
  });

  it('fails the write with store_unavailable, shows nothing, and writes again once it is back', async () => {
    const key = 'EU/acme/exp_outage.zip';
    const write = await store.create(key);
    const writing = pipeline(slowBundle(60), write.stream);
    // Stop once parts are on the server: the outage hits an upload in progress.
    await until(async () => (s3.counts.UploadPart ?? 0) >= 2, 20_000, 10);
    const stoppedAt = Date.now();
    await s3.stop();

    const failure = await rejection(writing);
    expect(failure.code).toBe('store_unavailable');
    expect(failure).toMatchObject({ name: 'BundleStoreError', retryable: true });
    // Retries are bounded: a refused connection fails within seconds, not minutes.
    expect(Date.now() - stoppedAt).toBeLessThan(15_000);
    expect((await rejection(write.commit())).code).toBe('store_unavailable');
    await write.abort(); // cannot reach the server: leaves the upload for the sweep

    await s3.start();
    expect(await store.stat(key)).toBeNull();
    expect((await rejection(store.open(key))).code).toBe('not_found');
    const pending = await s3.pendingUploads(BUCKET);
    expect(pending.map((u) => u.key)).toEqual([`exports/${key}`]);
    expect(await store.sweepIncomplete(new Date(Date.now() + 1_000))).toBe(1);
    expect(await s3.pendingUploads(BUCKET)).toEqual([]);

    const data = randomBytes(12 * MiB);
    expect((await put(store, key, data)).bytes).toBe(data.length);
    expect(await digestOf((await store.open(key)).stream)).toEqual({
      sha256: sha256(data),
      bytes: data.length,
    });
  });

  it('a commit that cannot reach the server fails and leaves no object', async () => {
    const key = 'EU/acme/exp_commit.zip';
    const write = await store.create(key);
    await pipeline(Readable.from([randomBytes(11 * MiB)]), write.stream);
    await until(async () => (await s3.pendingUploads(BUCKET)).length === 1);
    await s3.stop();
    const failure = await rejection(write.commit());
    expect(failure.code).toBe('store_unavailable');
    await write.abort();
    await s3.start();
    expect(await store.exists(key)).toBe(false);
    await store.sweepIncomplete(new Date(Date.now() + 1_000));
    expect(await s3.pendingUploads(BUCKET)).toEqual([]);
  });

  it('an abort that reaches the server removes the multipart upload at once', async () => {
    const key = 'EU/acme/exp_abort.zip';
    const write = await store.create(key);
    const writing = pipeline(slowBundle(30), write.stream).catch((error) => error);
    await until(async () => (await s3.pendingUploads(BUCKET)).length === 1, 20_000, 10);
    await write.abort();
    expect(await writing).toBeInstanceOf(Error);
    expect(await s3.pendingUploads(BUCKET)).toEqual([]);
    expect(await store.exists(key)).toBe(false);
  });
});

describe('S3BundleStore on a server without ListMultipartUploads (plain s3rver)', () => {
  it('says so once, then sweeps nothing without asking again; bundles still work', async () => {
    const s3 = await startS3Server({ buckets: [BUCKET], plain: true });
    const store = new S3BundleStore({
      client: createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials }),
      bucket: BUCKET,
      prefix: 'exports',
    });
    try {
      const failure = await rejection(store.sweepIncomplete(new Date()));
      expect(failure.code).toBe('store_misconfigured');
      expect(failure.message).toContain('does not implement ListMultipartUploads');
      const asked = s3.counts.ListMultipartUploads;
      expect(await store.sweepIncomplete(new Date())).toBe(0);
      expect(s3.counts.ListMultipartUploads).toBe(asked);
      await put(store, 'EU/acme/exp_plain.zip', Buffer.from('zip'));
      expect((await store.stat('EU/acme/exp_plain.zip'))?.bytes).toBe(3);
    } finally {
      await store.close();
      await s3.close();
    }
  });
});

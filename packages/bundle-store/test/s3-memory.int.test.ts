import { fileURLToPath } from 'node:url';
import { type S3TestServer, spawnProcess, startS3Server, until } from '@quittance/test-tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, S3BundleStore } from '../src/s3';
import { digestOf } from './helpers';

const BUCKET = 'quittance';
const MiB = 1024 * 1024;
const BUNDLE_BYTES = 200 * MiB;

describe('a 200 MiB bundle streamed through S3BundleStore', () => {
  let s3: S3TestServer;

  beforeAll(async () => {
    s3 = await startS3Server({ buckets: [BUCKET] });
  });
  afterAll(async () => {
    await s3.close();
  });

  it('uploads with flat memory in the writing process and downloads identical', async () => {
    // The upload runs in its own process: the S3 server here must not count in its RSS.
    const child = spawnProcess(
      process.execPath,
      [
        '--expose-gc',
        '--import',
        'tsx',
        fileURLToPath(new URL('./upload-child.ts', import.meta.url)),
      ],
      {
        env: {
          ...process.env,
          S3_ENDPOINT: s3.endpoint,
          S3_BUCKET: BUCKET,
          BUNDLE_KEY: 'EU/acme/exp_200mib.zip',
          BUNDLE_BYTES: String(BUNDLE_BYTES),
        },
      },
    );
    const [line] = await child.waitFor(/^\{.*\}$/m, 240_000);
    await until(async () => child.child.exitCode !== null, 10_000);
    expect(child.child.exitCode).toBe(0);
    const figures = JSON.parse(line) as {
      bytes: number;
      sha256: string;
      seconds: number;
      baselineRssMiB: number;
      peakRssMiB: number;
      growthMiB: number;
      maxRssMiB: number;
    };
    console.info('200 MiB upload through S3BundleStore:', figures);
    expect(figures.bytes).toBe(BUNDLE_BYTES);
    // The bound, and a tighter one that a bundle held whole (200 MiB) cannot meet.
    expect(figures.growthMiB).toBeLessThan(300);
    expect(figures.growthMiB).toBeLessThan(150);

    const store = new S3BundleStore({
      client: createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials }),
      bucket: BUCKET,
    });
    const download = await store.open('EU/acme/exp_200mib.zip');
    expect(download.bytes).toBe(BUNDLE_BYTES);
    expect(await digestOf(download.stream)).toEqual({
      sha256: figures.sha256,
      bytes: BUNDLE_BYTES,
    });
    await store.close();
  }, 300_000);
});

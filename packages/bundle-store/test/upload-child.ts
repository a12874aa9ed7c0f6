/**
 * Run as a child process by s3-memory.int.test.ts, so that its memory is the upload's alone:
 * streams BYTES of random data into S3BundleStore as one bundle, sampling RSS, and prints
 * one JSON line with the bundle's SHA-256 and the memory figures (MiB).
 */
import { pipeline } from 'node:stream/promises';
import { createS3Client, S3BundleStore } from '../src/s3';
import { put, randomContent } from './helpers';

const MiB = 1024 * 1024;
const { S3_ENDPOINT, S3_BUCKET, BUNDLE_KEY, BUNDLE_BYTES } = process.env;
const store = new S3BundleStore({
  client: createS3Client({
    endpoint: S3_ENDPOINT,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  }),
  bucket: S3_BUCKET as string,
});

// Warm up (SDK modules load lazily), then take the baseline.
await put(store, 'warm-up/bundle.zip', Buffer.alloc(1024));
global.gc?.();
const baseline = process.memoryUsage().rss;
let peak = baseline;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 20);

const started = performance.now();
const content = randomContent(Number(BUNDLE_BYTES), 256 * 1024);
const write = await store.create(BUNDLE_KEY as string);
await pipeline(content.stream(), write.stream);
const info = await write.commit();
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage().rss);
await store.close();

console.log(
  JSON.stringify({
    bytes: info.bytes,
    sha256: content.sha256(),
    seconds: (performance.now() - started) / 1000,
    baselineRssMiB: baseline / MiB,
    peakRssMiB: peak / MiB,
    growthMiB: (peak - baseline) / MiB,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  }),
);

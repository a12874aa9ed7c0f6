import { join } from 'node:path';
import type { ServerSideEncryption } from '@aws-sdk/client-s3';
import { decimalIntegerIn, MAX_TIMER_MS } from '@quittance/format';
import { BundleStoreError } from './errors';
import { LocalBundleStore } from './local-store';
import type { S3ClientOptions } from './s3-client';
import { assertBundleKey, type BundleStore } from './store';

type Env = Record<string, string | undefined>;

const ENCRYPTIONS = ['AES256', 'aws:kms', 'aws:kms:dsse'] as const;
/** S3's own limit on presigned URLs (seven days). */
const MAX_URL_TTL_S = 604_800;

/** Where `QUITTANCE_BUNDLE_STORE=s3://BUCKET/PREFIX` points. */
export function parseS3Location(value: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(value);
  const bucket = match?.[1] ?? '';
  const prefix = (match?.[2] ?? '').replace(/\/+$/, '');
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
    throw new BundleStoreError(
      'invalid_config',
      `QUITTANCE_BUNDLE_STORE: ${JSON.stringify(value)} is not s3://BUCKET/PREFIX with a valid bucket name`,
    );
  if (prefix) {
    try {
      assertBundleKey(prefix);
    } catch {
      throw new BundleStoreError(
        'invalid_config',
        `QUITTANCE_BUNDLE_STORE: prefix ${JSON.stringify(prefix)} is not /-separated segments of [A-Za-z0-9._%~:-]`,
      );
    }
  }
  return { bucket, prefix };
}

/** A whole number in decimal digits (not "0x10", "1e3" or " 3"), in 1..max; empty is unset. */
function positiveInteger(env: Env, name: string, max = Number.MAX_SAFE_INTEGER) {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = decimalIntegerIn(raw, 1, max);
  if (value === undefined)
    throw new BundleStoreError('invalid_config', `${name}: ${raw} is not an integer in 1..${max}`);
  return value;
}

/**
 * Where bundles go, as the environment says: validated, nothing opened yet (so start-up can
 * refuse a bad variable before it connects to anything). See {@link bundleStoreFromEnv}.
 */
export type BundleStoreConfig =
  | { kind: 'local'; root: string }
  | {
      kind: 's3';
      bucket: string;
      prefix: string;
      region: string;
      endpoint: string | undefined;
      credentials: S3ClientOptions['credentials'];
      serverSideEncryption: ServerSideEncryption | undefined;
      kmsKeyId: string | undefined;
      downloadUrlTtlS: number | undefined;
      connectionTimeoutMs: number | undefined;
      requestTimeoutMs: number | undefined;
      maxAttempts: number | undefined;
    };

/**
 * The bundle store the environment names (SPEC §11): unset `QUITTANCE_BUNDLE_STORE` is the
 * folder `<dataDir>/exports`; `s3://BUCKET/PREFIX` is S3 with region, endpoint and
 * credentials from the usual AWS variables (`AWS_REGION`, `AWS_ENDPOINT_URL_S3` or
 * `AWS_ENDPOINT_URL`, path-style when one is set; `AWS_ACCESS_KEY_ID`… or the SDK's default
 * chain: profile, container or instance role). Also read, all optional:
 * `QUITTANCE_BUNDLE_STORE_SSE` (`AES256`, `aws:kms`, `aws:kms:dsse`; default the bucket's),
 * `QUITTANCE_BUNDLE_STORE_KMS_KEY_ID`, `QUITTANCE_BUNDLE_URL_TTL_S` (downloads redirect to a
 * presigned URL valid that long), `QUITTANCE_S3_CONNECT_TIMEOUT_MS`, `QUITTANCE_S3_TIMEOUT_MS`,
 * `QUITTANCE_S3_MAX_ATTEMPTS`. Throws `invalid_config` naming the variable that is wrong.
 */
export function bundleStoreConfigFromEnv(env: Env, dataDir: string): BundleStoreConfig {
  const location = env.QUITTANCE_BUNDLE_STORE?.trim();
  if (!location) return { kind: 'local', root: join(dataDir, 'exports') };
  const { bucket, prefix } = parseS3Location(location);

  const sse = env.QUITTANCE_BUNDLE_STORE_SSE || undefined;
  if (sse && !(ENCRYPTIONS as readonly string[]).includes(sse))
    throw new BundleStoreError(
      'invalid_config',
      `QUITTANCE_BUNDLE_STORE_SSE: ${sse} is not one of ${ENCRYPTIONS.join(', ')}`,
    );
  const kmsKeyId = env.QUITTANCE_BUNDLE_STORE_KMS_KEY_ID || undefined;
  if (kmsKeyId && !sse?.startsWith('aws:kms'))
    throw new BundleStoreError(
      'invalid_config',
      'QUITTANCE_BUNDLE_STORE_KMS_KEY_ID needs QUITTANCE_BUNDLE_STORE_SSE=aws:kms or aws:kms:dsse',
    );
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  if (endpoint && !/^https?:\/\/[^/]+/.test(endpoint))
    throw new BundleStoreError(
      'invalid_config',
      `AWS_ENDPOINT_URL_S3: ${endpoint} is not an http(s) URL`,
    );
  const credentials =
    env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? {
          accessKeyId: env.AWS_ACCESS_KEY_ID,
          secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
          ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
        }
      : undefined;

  return {
    kind: 's3',
    bucket,
    prefix,
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    endpoint,
    credentials,
    serverSideEncryption: sse as ServerSideEncryption | undefined,
    kmsKeyId,
    downloadUrlTtlS: positiveInteger(env, 'QUITTANCE_BUNDLE_URL_TTL_S', MAX_URL_TTL_S),
    connectionTimeoutMs: positiveInteger(env, 'QUITTANCE_S3_CONNECT_TIMEOUT_MS', MAX_TIMER_MS),
    requestTimeoutMs: positiveInteger(env, 'QUITTANCE_S3_TIMEOUT_MS', MAX_TIMER_MS),
    maxAttempts: positiveInteger(env, 'QUITTANCE_S3_MAX_ATTEMPTS', 10),
  };
}

/**
 * Opens the store a {@link BundleStoreConfig} describes (an S3 client, or nothing to open).
 * The S3 store and the AWS SDK are loaded only for an S3 store: a process writing bundles to
 * its data folder never loads them (the SDK's S3 modules hold some 20 MB resident).
 */
export async function openBundleStore(config: BundleStoreConfig): Promise<BundleStore> {
  if (config.kind === 'local') return new LocalBundleStore(config.root);
  const { createS3Client, S3BundleStore } = await import('./s3');
  const client = createS3Client({
    region: config.region,
    endpoint: config.endpoint,
    credentials: config.credentials,
    connectionTimeoutMs: config.connectionTimeoutMs,
    requestTimeoutMs: config.requestTimeoutMs,
    maxAttempts: config.maxAttempts,
  });
  return new S3BundleStore({
    client,
    bucket: config.bucket,
    prefix: config.prefix,
    serverSideEncryption: config.serverSideEncryption,
    kmsKeyId: config.kmsKeyId,
    downloadUrlTtlS: config.downloadUrlTtlS,
  });
}

/** {@link bundleStoreConfigFromEnv}, then {@link openBundleStore}. */
export function bundleStoreFromEnv(env: Env, dataDir: string): Promise<BundleStore> {
  return openBundleStore(bundleStoreConfigFromEnv(env, dataDir));
}

import { resolve } from 'node:path';
import {
  type BundleStoreConfig,
  BundleStoreError,
  bundleStoreConfigFromEnv,
} from '@quittance/bundle-store';
import { MAX_TIMER_MS } from '@quittance/format';
import { parseLocalKek, VaultError } from '@quittance/vault';
import { z } from 'zod';
import { decimalNumber } from './decimal-schema';

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

const MAX_TIMER_S = Math.floor(MAX_TIMER_MS / 1000);

/**
 * A number in the environment in decimal digits (a whole number, or with a fraction when
 * `fraction`), within min..max; empty or unset is `fallback`.
 */
function envNumber(min: number, max: number, fallback: number, fraction = false) {
  const kind = fraction ? 'a number' : 'a whole number';
  return z.preprocess(
    (value) => (value === '' ? undefined : value),
    decimalNumber(min, max, {
      fraction,
      message: (input) => `expected ${kind} in decimal digits, not ${JSON.stringify(input)}`,
    }).default(fallback),
  );
}

/** Environment of SPEC §11 plus Quittance's own settings, validated once at start-up. */
const EnvSchema = z.object({
  PORT: envNumber(0, 65_535, 8787),
  // Empty is unset: an empty HOST would listen on every interface.
  HOST: optionalString.pipe(z.string().default('127.0.0.1')),
  DATABASE_URL: optionalString.refine(
    (v) => v === undefined || (/^postgres(ql)?:\/\//.test(v) && URL.canParse(v)),
    { message: 'must be a postgres:// or postgresql:// URL' },
  ),
  REDIS_URL: optionalString.refine((v) => v === undefined || /^rediss?:\/\/[^\s]+$/.test(v), {
    message: 'must be a redis:// or rediss:// URL',
  }),
  // Empty is unset: an empty folder name would be the current folder.
  QUITTANCE_DATA_DIR: optionalString.pipe(z.string().default('./.quittance')),
  QUITTANCE_PUBLIC_URL: optionalString,
  QUITTANCE_ADMIN_TOKEN: optionalString
    .refine((v) => v === undefined || v.length >= 24, { message: 'must be at least 24 characters' })
    // What a Bearer header can carry (RFC 6750 b64token), so that the token can be used at all.
    .refine((v) => v === undefined || /^[A-Za-z0-9._~+/-]+=*$/.test(v), {
      message: 'must be letters, digits and -._~+/ only (it is sent as a Bearer token)',
    }),
  QUITTANCE_TSA_URL: optionalString.refine(
    (v) => v === undefined || /^https?:\/\/[^\s]+$/.test(v),
    {
      message: 'must be an http:// or https:// URL',
    },
  ),
  QUITTANCE_TSA_TRUST: optionalString,
  /** Where merchant signing keys live: local keys (files, or wrapped in the database with
   * QUITTANCE_LOCAL_KEK), or AWS KMS. */
  QUITTANCE_SIGNING_BACKEND: z.enum(['local', 'kms']).default('local'),
  /** KMS key (id or ARN) that wraps vault data keys; unset: a local key file. */
  QUITTANCE_VAULT_KMS_KEY_ID: optionalString,
  /** KMS key that signs snapshots; unset: a local key file. */
  QUITTANCE_PUBLISHER_KMS_KEY_ID: optionalString,
  /**
   * base64url of 32 random bytes (SPEC §11): without KMS, wraps the publisher key, the vault's
   * key-encryption key and local signing keys kept in the database, shared by every process.
   * Unset: they are files in the data folder (one process).
   */
  QUITTANCE_LOCAL_KEK: optionalString,
  QUITTANCE_MAX_BODY_BYTES: envNumber(1, Number.MAX_SAFE_INTEGER, 1_048_576),
  QUITTANCE_DB_POOL: envNumber(1, 10_000, 16),
  /** Chain append statements in flight per process (chain-appender.ts). */
  QUITTANCE_APPEND_IN_FLIGHT: envNumber(1, 64, 1),
  QUITTANCE_TSA_TIMEOUT_MS: envNumber(1, MAX_TIMER_MS, 10_000),
  /** Concurrent requests to the TSA per job process. */
  QUITTANCE_TSA_CONCURRENCY: envNumber(1, 10_000, 8),
  /** A checkpoint every this many receipts… */
  QUITTANCE_CHECKPOINT_EVERY: envNumber(1, Number.MAX_SAFE_INTEGER, 1_000),
  /** …or this many seconds after the last one, when receipts were added since. */
  QUITTANCE_CHECKPOINT_INTERVAL_S: envNumber(0.001, MAX_TIMER_S, 60, true),
  /** How often durable state is swept for work a crash or a Redis outage dropped. */
  QUITTANCE_SWEEP_INTERVAL_MS: envNumber(1, MAX_TIMER_MS, 1_000),
  /** Upper bound of the backoff between timestamp attempts of one receipt. */
  QUITTANCE_RETRY_MAX_MS: envNumber(1, MAX_TIMER_MS, 300_000),
  /** BullMQ queue name: processes that share it share the work. */
  QUITTANCE_QUEUE_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default('quittance'),
  /** How long /readyz reports unready before the listener closes on SIGTERM. */
  QUITTANCE_SHUTDOWN_DELAY_MS: envNumber(0, MAX_TIMER_MS, 0),
  /** Past this, shutdown stops waiting (for a hung KMS call, a slow client) and exits. */
  QUITTANCE_SHUTDOWN_TIMEOUT_MS: envNumber(1, MAX_TIMER_MS, 25_000),
  /** A client must send its whole request (headers and body) within this time. */
  QUITTANCE_REQUEST_TIMEOUT_MS: envNumber(1, MAX_TIMER_MS, 30_000),
  /** An API answer within this time: work still pending then answers 503 with Retry-After. */
  QUITTANCE_REQUEST_BUDGET_MS: envNumber(1, MAX_TIMER_MS, 5_000),
  /** Order evidence bundles one process builds at once (each in memory, within a request). */
  QUITTANCE_EVIDENCE_BUILDS: envNumber(1, 64, 1),
  /** An export build's lease, renewed every third of it while the build runs. */
  QUITTANCE_EXPORT_LEASE_S: envNumber(1, MAX_TIMER_S, 60),
  /** Open connections one process accepts; more are refused at once. */
  QUITTANCE_MAX_CONNECTIONS: envNumber(1, Number.MAX_SAFE_INTEGER, 1_024),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** QUITTANCE_ variables read outside this schema: bundle store, KMS client, CLI, builds, tests. */
const READ_ELSEWHERE = new Set([
  'QUITTANCE_BUNDLE_STORE',
  'QUITTANCE_BUNDLE_STORE_SSE',
  'QUITTANCE_BUNDLE_STORE_KMS_KEY_ID',
  'QUITTANCE_BUNDLE_URL_TTL_S',
  'QUITTANCE_S3_CONNECT_TIMEOUT_MS',
  'QUITTANCE_S3_TIMEOUT_MS',
  'QUITTANCE_S3_MAX_ATTEMPTS',
  'QUITTANCE_KMS_TIMEOUT_MS',
  'QUITTANCE_KMS_CONNECT_TIMEOUT_MS',
  'QUITTANCE_URL',
  'QUITTANCE_DEBUG',
  'QUITTANCE_BUILD',
  'QUITTANCE_STRICT_TRANSACTIONS',
]);

/**
 * QUITTANCE_ variables nothing reads: most likely a typo (QUITTANCE_DB_POOOL), which would
 * otherwise leave the default in force without a word. Start-up logs them.
 */
export function unknownVariables(env: Record<string, string | undefined> = process.env): string[] {
  return Object.keys(env)
    .filter((name) => name.startsWith('QUITTANCE_'))
    .filter((name) => !(name in EnvSchema.shape) && !READ_ELSEWHERE.has(name))
    .sort();
}

/** Logs the QUITTANCE_ variables nothing reads (unknownVariables): a typo is said. */
export function warnUnknownVariables(
  logger: { warn(details: object, message: string): void },
  env: Record<string, string | undefined> = process.env,
): void {
  const variables = unknownVariables(env);
  if (variables.length > 0)
    logger.warn({ variables }, 'QUITTANCE_ variables nothing reads are ignored (a typo?)');
}

/** The base of `jwksSnapshotUrl` when QUITTANCE_PUBLIC_URL is not set. */
export const defaultPublicUrl = (port: number) => `http://127.0.0.1:${port}`;

export interface Config {
  port: number;
  host: string;
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  dataDir: string;
  /**
   * Base of `jwksSnapshotUrl`. Without QUITTANCE_PUBLIC_URL it is this host and PORT; with
   * PORT=0 startServer sets it to the port bound (`publicUrlFollowsPort`).
   */
  publicUrl: string;
  publicUrlFollowsPort: boolean;
  adminToken: string | undefined;
  tsaUrl: string | undefined;
  tsaTrust: string | undefined;
  signingBackend: 'local' | 'kms';
  vaultKmsKeyId: string | undefined;
  publisherKmsKeyId: string | undefined;
  /** QUITTANCE_LOCAL_KEK's 32 bytes; undefined: local keys are files in the data folder. */
  localKek: Uint8Array | undefined;
  /** Where export bundles live: the data folder, or S3 (QUITTANCE_BUNDLE_STORE). */
  bundleStore: BundleStoreConfig;
  maxBodyBytes: number;
  dbPool: number;
  appendInFlight: number;
  tsaTimeoutMs: number;
  tsaConcurrency: number;
  checkpointEvery: number;
  checkpointIntervalMs: number;
  sweepIntervalMs: number;
  retryMaxMs: number;
  queueName: string;
  shutdownDelayMs: number;
  shutdownTimeoutMs: number;
  requestTimeoutMs: number;
  requestBudgetMs: number;
  exportLeaseS: number;
  evidenceBuilds: number;
  maxConnections: number;
  logLevel: z.infer<typeof EnvSchema>['LOG_LEVEL'];
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads the configuration; throws {@link ConfigError} naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid environment:\n  ${problems.join('\n  ')}`);
  }
  const e = parsed.data;
  if (e.REDIS_URL && !e.DATABASE_URL) {
    // With Redis the jobs run in `quittance worker` processes, and no other process can open
    // this one's embedded database: checkpoints and timestamps would never be made.
    throw new ConfigError(
      "invalid environment:\n  REDIS_URL: needs DATABASE_URL (workers share PostgreSQL; the embedded database is one process's)",
    );
  }
  if (e.QUITTANCE_TSA_URL && !e.QUITTANCE_TSA_TRUST) {
    // Tokens are verified before they are attached; without anchors none could be.
    throw new ConfigError(
      'invalid environment:\n  QUITTANCE_TSA_TRUST: required with QUITTANCE_TSA_URL (PEM file of the TSA trust anchors)',
    );
  }
  const dataDir = resolve(e.QUITTANCE_DATA_DIR);
  let bundleStore: BundleStoreConfig;
  let localKek: Uint8Array | undefined;
  try {
    bundleStore = bundleStoreConfigFromEnv(env, dataDir);
    localKek =
      e.QUITTANCE_LOCAL_KEK === undefined ? undefined : parseLocalKek(e.QUITTANCE_LOCAL_KEK);
  } catch (error) {
    // Both messages start with the variable's name and never repeat a secret's value.
    if (error instanceof BundleStoreError || error instanceof VaultError)
      throw new ConfigError(`invalid environment:\n  ${(error as Error).message}`);
    throw error;
  }
  const publicUrl = (e.QUITTANCE_PUBLIC_URL ?? defaultPublicUrl(e.PORT)).replace(/\/+$/, '');
  if (!/^https?:\/\//.test(publicUrl) || !URL.canParse(publicUrl))
    throw new ConfigError(
      `invalid environment:\n  QUITTANCE_PUBLIC_URL: not an absolute http:// or https:// URL`,
    );
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    dataDir,
    publicUrl,
    publicUrlFollowsPort: e.QUITTANCE_PUBLIC_URL === undefined,
    adminToken: e.QUITTANCE_ADMIN_TOKEN,
    tsaUrl: e.QUITTANCE_TSA_URL,
    tsaTrust: e.QUITTANCE_TSA_TRUST,
    signingBackend: e.QUITTANCE_SIGNING_BACKEND,
    vaultKmsKeyId: e.QUITTANCE_VAULT_KMS_KEY_ID,
    publisherKmsKeyId: e.QUITTANCE_PUBLISHER_KMS_KEY_ID,
    localKek,
    bundleStore,
    maxBodyBytes: e.QUITTANCE_MAX_BODY_BYTES,
    dbPool: e.QUITTANCE_DB_POOL,
    appendInFlight: e.QUITTANCE_APPEND_IN_FLIGHT,
    tsaTimeoutMs: e.QUITTANCE_TSA_TIMEOUT_MS,
    tsaConcurrency: e.QUITTANCE_TSA_CONCURRENCY,
    checkpointEvery: e.QUITTANCE_CHECKPOINT_EVERY,
    checkpointIntervalMs: e.QUITTANCE_CHECKPOINT_INTERVAL_S * 1000,
    sweepIntervalMs: e.QUITTANCE_SWEEP_INTERVAL_MS,
    retryMaxMs: e.QUITTANCE_RETRY_MAX_MS,
    queueName: e.QUITTANCE_QUEUE_NAME,
    shutdownDelayMs: e.QUITTANCE_SHUTDOWN_DELAY_MS,
    shutdownTimeoutMs: e.QUITTANCE_SHUTDOWN_TIMEOUT_MS,
    requestTimeoutMs: e.QUITTANCE_REQUEST_TIMEOUT_MS,
    requestBudgetMs: e.QUITTANCE_REQUEST_BUDGET_MS,
    exportLeaseS: e.QUITTANCE_EXPORT_LEASE_S,
    evidenceBuilds: e.QUITTANCE_EVIDENCE_BUILDS,
    maxConnections: e.QUITTANCE_MAX_CONNECTIONS,
    logLevel: e.LOG_LEVEL,
  };
}

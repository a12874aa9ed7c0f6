import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { createKmsClient } from '@quittance/signer';
import {
  createTestDatabase,
  type KmsTestServer,
  type TestDatabase,
  until,
} from '@quittance/test-tooling';
import { expect } from 'vitest';
import { loadConfig } from '../src/config';
import { createApp } from '../src/http/app';
import { createDueCheckpoints } from '../src/jobs/checkpoints';
import { createQueue, type JobRuntime, startJobs } from '../src/jobs/runtime';
import { createServices, type ServiceOptions, type Services } from '../src/services';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface Harness {
  app: ReturnType<typeof createApp>;
  services: Services;
  database: TestDatabase | undefined;
  /** JSON request through `app.request()`; returns status, headers and parsed body. */
  call(
    method: string,
    path: string,
    options?: { key?: string; body?: unknown; raw?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; body: any; headers: Headers }>;
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  jobs: JobRuntime | undefined;
  /** A fresh merchant with keys for each role (agent keys for agent-1 and agent-2). */
  merchant(id?: string): Promise<{
    merchantId: string;
    merchantKey: string;
    auditorKey: string;
    agent1Key: string;
    agent2Key: string;
  }>;
  /** Signs a checkpoint of every merchant's head now (the job's rule, its interval due). */
  checkpointNow(): Promise<number>;
  /** The receipt once the jobs have attached its timestamp (`ades_candidate_timestamped`). */
  timestamped(key: string, receiptId: string): Promise<any>;
  close(): Promise<void>;
}

let counter = 0;

/** Services on a fresh database of the real PostgreSQL (or PGlite with `embedded`). */
export async function createHarness(
  options: ServiceOptions & {
    embedded?: boolean;
    env?: Record<string, string>;
    /** Runs the background jobs too: on BullMQ (queue `test-<uuid>` on REDIS_URL) or in-process. */
    jobs?: boolean;
  } = {},
): Promise<Harness> {
  const database = options.embedded ? undefined : await createTestDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'quittance-api-'));
  const config = loadConfig({
    ...(database ? { DATABASE_URL: database.url } : {}),
    QUITTANCE_DATA_DIR: dataDir,
    QUITTANCE_ADMIN_TOKEN: ADMIN_TOKEN,
    QUITTANCE_PUBLIC_URL: 'http://quittance.test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    QUITTANCE_DB_POOL: '8',
    ...options.env,
  });
  const services = await createServices(config, options);
  const jobs = options.jobs
    ? await startJobs(services, await createQueue(services, `test-${randomUUID()}`))
    : undefined;
  const app = createApp(services);

  const call: Harness['call'] = async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.key) headers.authorization = `Bearer ${opts.key}`;
    let body: string | undefined = opts.raw;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await app.request(path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {}
    return { status: res.status, body: parsed, headers: res.headers };
  };
  const admin: Harness['admin'] = (method, path, body) =>
    call(method, `/admin/v1${path}`, { key: ADMIN_TOKEN, ...(body === undefined ? {} : { body }) });

  return {
    app,
    services,
    database,
    call,
    admin,
    async merchant(id) {
      const merchantId =
        id ?? `m${process.pid}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;
      const created = await admin('POST', '/merchants', { merchantId, jurisdiction: 'EU' });
      if (created.status !== 201)
        throw new Error(`merchant: ${created.status} ${JSON.stringify(created.body)}`);
      const key = async (role: string, agentId?: string) => {
        const r = await admin('POST', `/merchants/${merchantId}/api-keys`, {
          role,
          ...(agentId ? { agentId } : {}),
        });
        if (r.status !== 201) throw new Error(`api key: ${r.status} ${JSON.stringify(r.body)}`);
        return r.body.apiKey as string;
      };
      return {
        merchantId,
        merchantKey: await key('merchant'),
        auditorKey: await key('auditor'),
        agent1Key: await key('agent', 'agent-1'),
        agent2Key: await key('agent', 'agent-2'),
      };
    },
    jobs,
    async checkpointNow() {
      const config = services.config as { checkpointIntervalMs: number };
      const interval = config.checkpointIntervalMs;
      config.checkpointIntervalMs = 0;
      try {
        return await createDueCheckpoints(services);
      } finally {
        config.checkpointIntervalMs = interval;
      }
    },
    timestamped: (key, receiptId) =>
      until(async () => {
        const r = await call('GET', `/api/v1/trust/receipts/${receiptId}`, { key });
        return r.body.legal_posture === 'ades_candidate_timestamped' && r.body;
      }),
    async close() {
      await jobs?.close();
      await services.close();
      await database?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A harness whose merchant keys and vault (and publisher key, with `kmsPublisher`) are held
 * in the KMS test endpoint `kms`, through the real SDK.
 */
export async function createKmsHarness(
  kms: KmsTestServer,
  options: { embedded?: boolean; jobs?: boolean; kmsPublisher?: boolean } = {},
): Promise<Harness> {
  const client = await createKmsClient({
    endpoint: kms.url,
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'x' },
  });
  const vaultKey = await client.send(new CreateKeyCommand({}));
  const publisherKey = options.kmsPublisher
    ? await client.send(
        new CreateKeyCommand({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' }),
      )
    : undefined;
  return createHarness({
    ...(options.embedded ? { embedded: true } : {}),
    ...(options.jobs ? { jobs: true } : {}),
    kmsClient: client,
    env: {
      QUITTANCE_SIGNING_BACKEND: 'kms',
      QUITTANCE_VAULT_KMS_KEY_ID: vaultKey.KeyMetadata?.Arn as string,
      ...(publisherKey
        ? { QUITTANCE_PUBLISHER_KMS_KEY_ID: publisherKey.KeyMetadata?.KeyId as string }
        : {}),
    },
  });
}

/** A valid issue request with 1 KB-ish bodies. */
export function issueBody(overrides: Record<string, unknown> = {}) {
  return {
    callId: `call-${Math.random().toString(36).slice(2, 12)}`,
    agentId: 'agent-1',
    bucket: 'checkout',
    tool: 'complete_checkout',
    orderId: 'order-1',
    input: { cart: 'c-1', items: [{ sku: 'A-1', qty: 2 }] },
    output: { ok: true, total: '19.90' },
    ...overrides,
  };
}

/** An answer that is problem+json with this status and stable code. */
export function expectProblem(
  r: { status: number; body: any; headers: Headers },
  status: number,
  code: string,
) {
  expect({ status: r.status, code: r.body?.code }).toEqual({ status, code });
  expect(r.headers.get('content-type')).toBe('application/problem+json');
}

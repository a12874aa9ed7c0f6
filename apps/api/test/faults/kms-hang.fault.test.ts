import {
  createTestDatabase,
  type KmsTestServer,
  startKmsServer,
  type TestDatabase,
  until,
} from '@quittance/test-tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SpawnedApi, startSpawnedApi } from './spawned-api';

/**
 * A KMS endpoint that accepts requests and never answers (merchant keys in KMS), under steady
 * issuance with checkpoints every second: clients get 503 signer_unavailable within the request
 * budget, never a hang; no chain lock is held meanwhile (issuing works again at once when KMS
 * answers); and SIGTERM while KMS hangs still ends the process within its shutdown deadline.
 */
const SHUTDOWN_TIMEOUT_MS = 5_000;

let kms: KmsTestServer;
let database: TestDatabase;
let spawned: SpawnedApi;

beforeAll(async () => {
  kms = await startKmsServer();
  database = await createTestDatabase();
  spawned = await startSpawnedApi({
    DATABASE_URL: database.url,
    QUITTANCE_SIGNING_BACKEND: 'kms',
    QUITTANCE_CHECKPOINT_INTERVAL_S: '1',
    QUITTANCE_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    AWS_ENDPOINT_URL_KMS: kms.url,
    AWS_ACCESS_KEY_ID: 'AKIDTEST',
    AWS_SECRET_ACCESS_KEY: 'x',
    AWS_REGION: 'us-east-1',
  });
});
afterAll(async () => {
  await spawned?.close();
  await kms?.close();
  await database?.drop();
});

describe('KMS that accepts and never answers', () => {
  it('503 signer_unavailable within the budget, no lock held, recovery at once, bounded shutdown', async () => {
    const { api, base } = spawned;
    const apiKey = await spawned.merchant('kmsfault');
    let n = 0;
    const issue = async () => {
      const started = Date.now();
      const r = await fetch(`${base}/api/v1/trust/receipts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          callId: `kms-${n++}`,
          agentId: 'agent-1',
          bucket: 'checkout',
          tool: 'complete_checkout',
          inputHash: 'a'.repeat(64),
          outputHash: 'b'.repeat(64),
        }),
        signal: AbortSignal.timeout(15_000),
      });
      const body = await r.json();
      return {
        status: r.status,
        ms: Date.now() - started,
        body,
        retry: r.headers.get('retry-after'),
      };
    };
    for (let i = 0; i < 5; i++) expect((await issue()).status).toBe(201);

    kms.faults.hang = true;
    const hung = await Promise.all(Array.from({ length: 6 }, issue));
    for (const answer of hung) {
      expect(answer.status).toBe(503);
      expect(answer.retry).not.toBeNull();
      expect(answer.ms).toBeLessThan(6_000);
    }
    expect(hung.map((a) => a.body.code)).toContain('signer_unavailable');
    // Let the checkpoint job try to sign with the hung KMS for a while too.
    await new Promise((r) => setTimeout(r, 3_000));

    kms.faults.hang = false;
    const recoveredIn = Date.now();
    await until(async () => (await issue()).status === 201, 10_000, 50);
    const recovery = Date.now() - recoveredIn;
    console.log(
      `kms hang: 503 after ${Math.min(...hung.map((a) => a.ms))}-${Math.max(...hung.map((a) => a.ms))} ms, ` +
        `issuing again ${recovery} ms after KMS answered`,
    );
    expect(recovery).toBeLessThan(3_000);
    // A checkpoint of the chain head is signed once KMS answers again.
    await until(async () => {
      const r = await fetch(`${base}/api/v1/trust/checkpoints`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      return (await r.json()).checkpoints.length > 0;
    }, 15_000);

    // SIGTERM while a KMS call hangs: the process ends within its shutdown deadline.
    kms.faults.hang = true;
    const pending = issue().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    const stopping = Date.now();
    const code = await api.stop('SIGTERM');
    const took = Date.now() - stopping;
    await pending;
    kms.faults.hang = false;
    console.log(`kms hang: SIGTERM ended the process in ${took} ms (exit ${code})`);
    expect(took).toBeLessThan(SHUTDOWN_TIMEOUT_MS + 4_000);
  });
});

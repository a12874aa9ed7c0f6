import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createApp,
  createQueue,
  createServices,
  type JobRuntime,
  loadConfig,
  type Services,
  startJobs,
} from '@quittance/api';
import { createTestDatabase, type TestDatabase, until } from '@quittance/test-tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InclusionProof, QuittanceClient } from '../src';

// An agent verifies a receipt with the newest proof after the month has turned: the proof's
// checkpoint is signed in a month later than the snapshot the receipt names.
const ADMIN = 'client-months-admin-token-0123456789';
const BASE = 'http://quittance.test';
let now = Date.parse('2027-01-31T23:59:30.000Z');
let database: TestDatabase;
let dir: string;
let services: Services;
let jobs: JobRuntime;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  database = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'quittance-client-months-'));
  const config = loadConfig({
    DATABASE_URL: database.url,
    QUITTANCE_DATA_DIR: dir,
    QUITTANCE_ADMIN_TOKEN: ADMIN,
    QUITTANCE_PUBLIC_URL: BASE,
    QUITTANCE_CHECKPOINT_INTERVAL_S: '1',
    LOG_LEVEL: 'silent',
  });
  services = await createServices(config, { clock: () => new Date(now) });
  jobs = await startJobs(services, await createQueue(services));
  app = createApp(services);
}, 60_000);
afterAll(async () => {
  await jobs?.close();
  await services?.close();
  await database?.drop();
  await rm(dir, { recursive: true, force: true });
});

const clientFor = async (apiKey: string) =>
  new QuittanceClient({
    baseUrl: BASE,
    apiKey,
    // Pinned, as the service's own key (the test trusts it): snapshot_authentic is decided.
    publisher: await (await app.request('/.well-known/quittance-publisher.json')).json(),
    fetch: (input, init) => Promise.resolve(app.request(String(input), init)),
  });

async function admin(path: string, body: unknown) {
  const res = await app.request(`/admin/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await res.json()) as { apiKey: string };
}

describe('verifying with a proof whose checkpoint is of a later month', () => {
  it("uses the checkpoint's month's snapshot: included_in_log asserted, not unknown", async () => {
    await admin('/merchants', { merchantId: 'months', jurisdiction: 'EU' });
    const merchant = await clientFor(
      (await admin('/merchants/months/api-keys', { role: 'merchant' })).apiKey,
    );
    const agent = await clientFor(
      (await admin('/merchants/months/api-keys', { role: 'agent', agentId: 'agent-1' })).apiKey,
    );
    const issue = (callId: string) =>
      merchant.issueReceipt({
        callId,
        agentId: 'agent-1',
        bucket: 'checkout',
        tool: 'complete_checkout',
        orderId: 'order-m',
        input: { cart: callId },
        output: { ok: true },
      });
    const { receipt } = await issue('january');
    expect(receipt.jwksSnapshotUrl).toMatch(/2027-01\.json$/);
    now = Date.parse('2027-02-01T00:00:30.000Z');
    await issue('february');
    // The newest checkpoint (the one getProof answers) is February's.
    const proof = (await until(async () => {
      const p = await agent.getProof(receipt.id).catch(() => undefined);
      return p?.checkpoint.createdAt.startsWith('2027-02') && p;
    }, 20_000)) as InclusionProof;

    const report = await agent.verify(receipt, { proof });
    expect(report.claims.included_in_log?.status).toBe('asserted');
    expect(report.claims.key_valid_at_issuance.status).toBe('asserted');
    expect(report.claims.snapshot_authentic.status).toBe('asserted');
  });
});

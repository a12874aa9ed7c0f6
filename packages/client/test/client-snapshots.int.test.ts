import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, createServices, loadConfig, type Services } from '@quittance/api';
import { createTestDatabase, type TestDatabase } from '@quittance/test-tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QuittanceClient, type Receipt } from '../src';
import { isClosedMonth } from '../src/client';

// Which snapshots the client keeps: an ended month's (final, SPEC §5), never the current
// month's, whose re-issue carries a revocation that must count at once. The service's clock
// starts in a month long ended (by this machine's clock), then moves to now.
const ADMIN = 'client-snapshots-admin-token-0123456789';
const BASE = 'http://quittance.test';
let now = Date.parse('2026-10-10T10:00:00.000Z');
let database: TestDatabase;
let dir: string;
let services: Services;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  database = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'quittance-client-snapshots-'));
  const config = loadConfig({
    DATABASE_URL: database.url,
    QUITTANCE_DATA_DIR: dir,
    QUITTANCE_ADMIN_TOKEN: ADMIN,
    QUITTANCE_PUBLIC_URL: BASE,
    LOG_LEVEL: 'silent',
  });
  services = await createServices(config, { clock: () => new Date(now) });
  app = createApp(services);
}, 60_000);
afterAll(async () => {
  await services?.close();
  await database?.drop();
  await rm(dir, { recursive: true, force: true });
});

async function admin(path: string, body?: unknown) {
  const res = await app.request(`/admin/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  expect(res.status).toBeLessThan(300);
  return (await res.json()) as { apiKey: string };
}

describe('the snapshots the client keeps', () => {
  it("fetches an ended month's once, the current month's each time, and sees a revocation at once", async () => {
    await admin('/merchants', { merchantId: 'kept', jurisdiction: 'EU' });
    const apiKey = (await admin('/merchants/kept/api-keys', { role: 'merchant' })).apiKey;
    const fetches: string[] = [];
    const client = new QuittanceClient({
      baseUrl: BASE,
      apiKey,
      publisher: await (await app.request('/.well-known/quittance-publisher.json')).json(),
      fetch: (input, init) => {
        const path = new URL(String(input)).pathname;
        if (path.includes('/jwks/snapshot/')) fetches.push(path);
        return Promise.resolve(app.request(String(input), init));
      },
    });
    const issue = async (callId: string) =>
      (
        await client.issueReceipt({
          callId,
          agentId: 'agent-1',
          bucket: 'checkout',
          tool: 'complete_checkout',
          inputHash: 'a'.repeat(64),
          outputHash: 'b'.repeat(64),
        })
      ).receipt;
    const october: Receipt[] = [await issue('oct-1'), await issue('oct-2'), await issue('oct-3')];
    now = Date.now();
    const current = await issue('now-1');

    // October ended: one fetch for its three receipts, at once and one after the other.
    const reports = await Promise.all(october.map((r) => client.verify(r)));
    reports.push(await client.verify(october[0] as Receipt));
    for (const report of reports)
      expect(report.claims.key_valid_at_issuance.status).toBe('asserted');
    expect(fetches).toEqual(['/.well-known/jwks/snapshot/2026-10.json']);

    // The current month: fetched each time, so a revocation dated back to the receipt counts
    // at once (a kept snapshot would have asserted it for as long as it was kept).
    expect((await client.verify(current)).claims.key_valid_at_issuance.status).toBe('asserted');
    await admin(`/signing-keys/${current.signingKeyKid}/revoke`, {
      reason: 'key_compromise',
      revokedAt: current.createdAt,
    });
    expect((await client.verify(current)).claims.key_valid_at_issuance.status).toBe('refuted');
    expect(fetches.filter((p) => !p.endsWith('2026-10.json'))).toHaveLength(2);
    // October's is still the one kept.
    await client.verify(october[1] as Receipt);
    expect(fetches.filter((p) => p.endsWith('2026-10.json'))).toHaveLength(1);
  });

  it('counts a month as ended an hour after its last millisecond', () => {
    const end = Date.parse('2026-11-01T00:00:00.000Z');
    expect(isClosedMonth('2026-10', end + 60 * 60 * 1000)).toBe(true);
    expect(isClosedMonth('2026-10', end + 60 * 60 * 1000 - 1)).toBe(false);
    expect(isClosedMonth('2026-12', Date.parse('2027-01-01T01:00:00.000Z'))).toBe(true);
    expect(isClosedMonth('2026-12', Date.parse('2026-12-31T23:59:59.999Z'))).toBe(false);
  });
});

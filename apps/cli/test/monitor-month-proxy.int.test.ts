import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type RunningServer, startServer } from '@quittance/api';
import { createTestDatabase, type TestDatabase, until } from '@quittance/test-tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, forward, monitorOnce, poster, smallReceipt } from './live-server';

/**
 * The monitor against a log whose clock crossed a month, end to end: each checkpoint's key
 * history is the snapshot of its own month, and a server that answers a genuine snapshot of
 * the other month in its place is unreadable (exit 2), not a pass. The server runs on a clock
 * of its own; a proxy in front of it swaps the two months' snapshots when told to.
 */
const OCTOBER = '2026-10';
const NOVEMBER = '2026-11';
const LIST = '/api/v1/trust/checkpoints';

let database: TestDatabase;
let server: RunningServer;
let proxy: Server;
let proxyUrl: string;
let dir: string;
let merchantKey: string;
/** The server's clock runs at the real pace from where the test sets it. */
let offsetMs = Date.parse(`${OCTOBER}-31T23:58:00.000Z`) - Date.now();
const setClock = (iso: string) => {
  offsetMs = Date.parse(iso) - Date.now();
};
/** The month whose snapshot the proxy answers instead of the one asked for. */
let swapTo: string | undefined;

const post = poster(() => server.url);

async function issueAndCheckpoint(seq: number) {
  await post('/api/v1/trust/receipts', smallReceipt(`month-${seq}`, { seq }), merchantKey);
  await until(async () => {
    const r = await fetch(`${server.url}${LIST}`, {
      headers: { authorization: `Bearer ${merchantKey}` },
    });
    return (await r.json()).checkpoints[0]?.seq === seq;
  }, 20_000);
}

async function monitor() {
  const state = join(dir, 'state.json');
  await rm(state, { force: true });
  const publisher = join(dir, 'publisher.json');
  return monitorOnce({ url: proxyUrl, key: merchantKey, publisher, state });
}

beforeAll(async () => {
  database = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'quittance-monitor-month-'));
  server = await startServer(
    loadConfig({
      DATABASE_URL: database.url,
      QUITTANCE_DATA_DIR: join(dir, 'data'),
      QUITTANCE_ADMIN_TOKEN: ADMIN,
      // A checkpoint per receipt: the merchant's creation, which times the interval, is
      // stamped by the database's clock, not the server's.
      QUITTANCE_CHECKPOINT_EVERY: '1',
      PORT: '0',
      LOG_LEVEL: 'silent',
    }),
    { clock: () => new Date(Date.now() + offsetMs) },
  );
  await post('/admin/v1/merchants', { merchantId: 'monthly', jurisdiction: 'EU' });
  merchantKey = (await post('/admin/v1/merchants/monthly/api-keys', { role: 'merchant' })).apiKey;
  await issueAndCheckpoint(1);
  setClock(`${NOVEMBER}-01T00:01:00.000Z`);
  await issueAndCheckpoint(2);
  await writeFile(
    join(dir, 'publisher.json'),
    await (await fetch(`${server.url}/.well-known/quittance-publisher.json`)).text(),
  );
  proxy = createServer((req, res) => {
    const url = (req.url ?? '').replace(/snapshot\/\d{4}-\d{2}\.json/, (file) =>
      swapTo && file.startsWith('snapshot/') ? `snapshot/${swapTo}.json` : file,
    );
    forward(server.url, url, req, res).catch(() => res.destroy());
  });
  await new Promise<void>((done) => proxy.listen(0, '127.0.0.1', done));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}, 90_000);
afterAll(async () => {
  proxy?.closeAllConnections();
  await new Promise((done) => proxy?.close(done));
  await server?.close();
  await database?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the monitor over a log whose checkpoints span two months', () => {
  it('passes with each month’s own snapshot (exit 0)', async () => {
    const checkpoints = (
      await (
        await fetch(`${server.url}${LIST}`, { headers: { authorization: `Bearer ${merchantKey}` } })
      ).json()
    ).checkpoints as { seq: number; createdAt: string }[];
    expect(checkpoints.map((c) => [c.seq, c.createdAt.slice(0, 7)])).toEqual([
      [2, NOVEMBER],
      [1, OCTOBER],
    ]);
    swapTo = undefined;
    const result = await monitor();
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it.each([
    [NOVEMBER, OCTOBER],
    [OCTOBER, NOVEMBER],
  ])(
    'a genuine snapshot of %s answered for %s is unreadable: exit 2 in one line',
    async (answered, asked) => {
      swapTo = answered;
      const result = await monitor();
      swapTo = undefined;
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toEqual([
        expect.stringContaining(`the server answered the key snapshot of ${answered} for ${asked}`),
      ]);
    },
  );
});

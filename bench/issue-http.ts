/**
 * Issuance over HTTP against the real PostgreSQL: API processes of `npm run stack` (local
 * signer), 64 concurrent keep-alive clients, 1 KB input and output bodies. Prints receipts/s
 * and latency with one API process and with two, for one merchant and for sixteen, and the
 * raw single-row insert rate of the same PostgreSQL, all measured in the same run.
 * Asserts nothing.   npm run bench:issue   (BENCH_SECONDS=10)
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTestDatabase,
  freePort,
  spawnProcess,
  TEST_REDIS_URL,
} from '@quittance/test-tooling';
import postgres from 'postgres';
import { startStack } from '../apps/cli/src/stack';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 64);

const kilobyte = (seed: string) => ({
  seed,
  items: Array.from({ length: 16 }, (_, i) => ({
    sku: `SKU-${i}-${seed}`,
    qty: i,
    note: 'x'.repeat(30),
  })),
});

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
function call(base: string, method: string, path: string, token: string, body?: unknown) {
  const url = new URL(base);
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const database = await createTestDatabase();
const dataDir = await mkdtemp(join(tmpdir(), 'quittance-bench-'));
const stack = await startStack({
  databaseUrl: database.url,
  redisUrl: TEST_REDIS_URL,
  dataDir,
  ports: [await freePort(), await freePort()],
  workers: 0,
  env: {
    LOG_LEVEL: 'warn',
    QUITTANCE_DB_POOL: '16',
    QUITTANCE_QUEUE_NAME: `bench-${randomUUID()}`,
  },
  launch: spawnProcess,
});
const admin = stack.apis[0]?.url as string;

async function merchants(n: number, tag: string): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; i < n; i++) {
    const merchantId = `bench-${tag}-${i}`;
    const created = await call(admin, 'POST', '/admin/v1/merchants', stack.adminToken, {
      merchantId,
      jurisdiction: 'EU',
    });
    const key = await call(
      admin,
      'POST',
      `/admin/v1/merchants/${merchantId}/api-keys`,
      stack.adminToken,
      { role: 'merchant' },
    );
    if (created.status !== 201 || key.status !== 201)
      throw new Error(`set-up failed: ${created.text} ${key.text}`);
    keys.push(JSON.parse(key.text).apiKey);
  }
  return keys;
}

async function load(bases: string[], keys: string[], label: string, tag: string): Promise<number> {
  let issued = 0;
  let failed = 0;
  const latencies: number[] = [];
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      const key = keys[client % keys.length] as string;
      const base = bases[client % bases.length] as string;
      for (let i = 0; Date.now() < end; i++) {
        const started = performance.now();
        const r = await call(base, 'POST', '/api/v1/trust/receipts', key, {
          callId: `${tag}-${client}-${i}`,
          agentId: `agent-${client % 8}`,
          bucket: 'checkout',
          tool: 'complete_checkout',
          orderId: `order-${client}-${i % 10}`,
          input: kilobyte(`in-${i}`),
          output: kilobyte(`out-${i}`),
        });
        latencies.push(performance.now() - started);
        if (r.status === 201) issued++;
        else if (failed++ === 0) console.error(r.status, r.text.slice(0, 300));
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const rate = issued / SECONDS;
  console.log(
    `${label.padEnd(34)} ${Math.round(rate).toString().padStart(6)} receipts/s   p50 ${percentile(latencies, 50).toFixed(1)} ms   p99 ${percentile(latencies, 99).toFixed(1)} ms   failed ${failed}`,
  );
  return rate;
}

try {
  const [one, two] = [[admin], stack.apis.map((a) => a.url)];
  console.log(
    `node ${process.version}; ${CLIENTS} clients; ${SECONDS}s per run; 1 KB input and output; local signer`,
  );
  await load(one, await merchants(1, 'warmup'), 'warm-up (discarded)', 'warmup');
  const r11 = await load(one, await merchants(1, 'a'), '1 API process, 1 merchant', 'a');
  const r116 = await load(one, await merchants(16, 'b'), '1 API process, 16 merchants', 'b');
  const r21 = await load(two, await merchants(1, 'c'), '2 API processes, 1 merchant', 'c');
  const r216 = await load(two, await merchants(16, 'd'), '2 API processes, 16 merchants', 'd');

  const sql = postgres(database.url, { max: 16, onnotice: () => {} });
  await sql`create table bench_insert (id bigserial primary key, payload text not null)`;
  let inserts = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (Date.now() < end) {
        await sql`insert into bench_insert (payload) values (${'x'.repeat(200)})`;
        inserts++;
      }
    }),
  );
  await sql.end();
  const raw = inserts / SECONDS;
  console.log(
    `${'raw single-row INSERT'.padEnd(34)} ${Math.round(raw).toString().padStart(6)} rows/s (${CLIENTS} clients, autocommit)`,
  );
  console.log(
    `one merchant / sixteen: ${(r11 / r116).toFixed(2)} (1 process), ${(r21 / r216).toFixed(2)} (2 processes); ` +
      `2 processes / 1: ${(r21 / r11).toFixed(2)} (1 merchant), ${(r216 / r116).toFixed(2)} (16 merchants); ` +
      `best / raw insert: ${(Math.max(r11, r21) / raw).toFixed(2)}`,
  );
} finally {
  agent.destroy();
  await stack.stop();
  await database.drop();
  await rm(dataDir, { recursive: true, force: true });
}

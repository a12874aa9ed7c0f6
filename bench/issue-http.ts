/**
 * Issuance over HTTP against the real PostgreSQL: the API in its own process (local signer),
 * 64 concurrent keep-alive clients, 1 KB input and output bodies. Prints receipts/s and
 * latency for one merchant and for sixteen, and the raw single-row insert rate of the same
 * PostgreSQL measured in the same run. Asserts nothing.
 *   npm run bench:issue            (BENCH_SECONDS=10 by default)
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createTestDatabase, freePort, spawnProcess } from '@quittance/test-tooling';
import postgres from 'postgres';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 64);
const ADMIN = 'bench-admin-token-0123456789abcdefgh';
const root = resolve(import.meta.dirname, '..');

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

async function main() {
  const database = await createTestDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'quittance-bench-'));
  const port = await freePort();
  // BENCH_PROFILE=DIR writes a V8 CPU profile of the API process there.
  const profile = process.env.BENCH_PROFILE
    ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE]
    : [];
  const server = spawnProcess(
    process.execPath,
    [...profile, join(root, 'apps/cli/bin/quittance.js'), 'serve'],
    {
      env: {
        ...process.env,
        PORT: String(port),
        DATABASE_URL: database.url,
        QUITTANCE_DATA_DIR: dataDir,
        QUITTANCE_ADMIN_TOKEN: ADMIN,
        LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
        QUITTANCE_DB_POOL: '16',
      },
    },
  );
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  const call = (method: string, path: string, token: string, body?: unknown) =>
    new Promise<{ status: number; text: string }>((resolvePromise, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          host: '127.0.0.1',
          port,
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
          res.on('data', (c) => (text += c));
          res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });

  try {
    await server.waitFor(/Quittance is serving/, 60_000);
    const merchants = async (n: number, tag: string) => {
      const keys: string[] = [];
      for (let i = 0; i < n; i++) {
        const merchantId = `bench-${tag}-${i}`;
        const created = await call('POST', '/admin/v1/merchants', ADMIN, {
          merchantId,
          jurisdiction: 'EU',
        });
        const key = await call('POST', `/admin/v1/merchants/${merchantId}/api-keys`, ADMIN, {
          role: 'merchant',
        });
        if (created.status !== 201 || key.status !== 201)
          throw new Error(`set-up failed: ${created.text} ${key.text}`);
        keys.push(JSON.parse(key.text).apiKey);
      }
      return keys;
    };

    const load = async (keys: string[], label: string, tag: string) => {
      let issued = 0;
      let failed = 0;
      const latencies: number[] = [];
      const end = Date.now() + SECONDS * 1000;
      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, client) => {
          const key = keys[client % keys.length] as string;
          for (let i = 0; Date.now() < end; i++) {
            const started = performance.now();
            const r = await call('POST', '/api/v1/trust/receipts', key, {
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
            else {
              failed++;
              if (failed === 1) console.error(r.status, r.text.slice(0, 300));
            }
          }
        }),
      );
      latencies.sort((a, b) => a - b);
      const rate = issued / SECONDS;
      console.log(
        `${label.padEnd(28)} ${Math.round(rate).toString().padStart(6)} receipts/s   p50 ${percentile(latencies, 50).toFixed(1)} ms   p99 ${percentile(latencies, 99).toFixed(1)} ms   failed ${failed}`,
      );
      return rate;
    };

    console.log(
      `node ${process.version}; ${CLIENTS} clients; ${SECONDS}s per run; 1 KB input and output`,
    );
    await load(await merchants(1, 'warmup'), 'warm-up (discarded)', 'warmup');
    const one = await load(await merchants(1, 'one'), 'one merchant', 'one');
    const sixteen = await load(await merchants(16, 'sixteen'), 'sixteen merchants', 'sixteen');

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
      `${'raw single-row INSERT'.padEnd(28)} ${Math.round(raw).toString().padStart(6)} rows/s (${CLIENTS} clients, autocommit)`,
    );
    console.log(
      `one merchant / sixteen = ${(one / sixteen).toFixed(2)}; one merchant / raw insert = ${(one / raw).toFixed(2)}`,
    );
  } finally {
    agent.destroy();
    await server.stop('SIGTERM');
    const stopped = server
      .stdout()
      .split('\n')
      .find((line) => line.includes('"stopped"'));
    if (stopped) console.log(`API process: ${stopped}`);
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();

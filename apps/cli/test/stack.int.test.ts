import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkChain, createServices, loadConfig } from '@quittance/api';
import { QuittanceClient } from '@quittance/client';
import {
  createTestDatabase,
  freePort,
  spawnProcess,
  startTsaServer,
  TEST_REDIS_URL,
  type TestDatabase,
  type TsaTestServer,
} from '@quittance/test-tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningStack, startStack } from '../src/stack';

/** A body no log line may ever contain. */
const SECRET = `body-secret-${randomUUID()}`;
const secrets: string[] = [SECRET];
const allOutput: string[] = [];

let tsa: TsaTestServer;
const databases: TestDatabase[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  tsa = await startTsaServer();
}, 60_000);
afterAll(async () => {
  await tsa?.close();
  for (const db of databases) await db.drop();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function stack(
  apis: number,
  workers: number,
  env: Record<string, string> = {},
): Promise<RunningStack> {
  const database = await createTestDatabase();
  databases.push(database);
  const dataDir = await mkdtemp(join(tmpdir(), 'quittance-stack-'));
  dirs.push(dataDir);
  const ports = await Promise.all(Array.from({ length: apis }, () => freePort()));
  const running = await startStack({
    databaseUrl: database.url,
    redisUrl: TEST_REDIS_URL,
    dataDir,
    ports,
    workers,
    env: {
      LOG_LEVEL: 'debug',
      QUITTANCE_QUEUE_NAME: `test-${randomUUID()}`,
      QUITTANCE_SHUTDOWN_DELAY_MS: '300',
      ...env,
    },
    launch: spawnProcess,
  });
  secrets.push(running.adminToken, running.localKek);
  return running;
}

const collect = (running: RunningStack) => {
  for (const p of [...running.apis.map((a) => a.process), ...running.workers]) {
    const spawned = p as ReturnType<typeof spawnProcess>;
    allOutput.push(spawned.stdout(), spawned.stderr());
  }
};

async function merchant(running: RunningStack, id: string) {
  const admin = {
    authorization: `Bearer ${running.adminToken}`,
    'content-type': 'application/json',
  };
  const base = running.apis[0]?.url as string;
  expect(
    (
      await fetch(`${base}/admin/v1/merchants`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ merchantId: id, jurisdiction: 'EU' }),
      })
    ).status,
  ).toBe(201);
  const key = await fetch(`${base}/admin/v1/merchants/${id}/api-keys`, {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({ role: 'merchant' }),
  });
  const { apiKey } = (await key.json()) as { apiKey: string };
  secrets.push(apiKey);
  return apiKey;
}

function issue(base: string, key: string, callId: string) {
  return fetch(`${base}/api/v1/trust/receipts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      callId,
      agentId: 'agent-1',
      bucket: 'checkout',
      tool: 'complete_checkout',
      input: { note: SECRET },
      output: { ok: true },
    }),
  });
}

/** Services on the stack's database, to look at what was stored. */
async function inspect(running: RunningStack, url: string) {
  return createServices(
    loadConfig({
      DATABASE_URL: url,
      QUITTANCE_DATA_DIR: await mkdtemp(join(tmpdir(), 'inspect-')),
      QUITTANCE_ADMIN_TOKEN: running.adminToken,
      LOG_LEVEL: 'silent',
    }),
  );
}

describe('the production shape: several API processes and workers on one PostgreSQL and Redis', () => {
  it('two API processes, one merchant, 200 concurrent issues → one chain, seq 1..200', async () => {
    const running = await stack(2, 0);
    try {
      const key = await merchant(running, 'shop');
      const responses = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          issue(running.apis[i % 2]?.url as string, key, `c-${i}`).then(async (r) => ({
            status: r.status,
            body: (await r.json()) as { chain: { seq: number } },
          })),
        ),
      );
      expect(responses.map((r) => r.status)).toEqual(Array(200).fill(201));
      expect(responses.map((r) => r.body.chain.seq).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      const services = await inspect(running, databases.at(-1)?.url as string);
      expect(await checkChain(services.db, 'shop')).toMatchObject({ ok: true, checked: 200 });
      await services.close();
      // The typed client issues and verifies through the second process; its counters move.
      const issuedBy = async (url: string) => {
        const text = await (await fetch(`${url}/metrics`)).text();
        return Number(
          /quittance_receipts_issued_total\{bucket="checkout",outcome="created"\} (\d+)/.exec(
            text,
          )?.[1] ?? 0,
        );
      };
      const second = running.apis[1]?.url as string;
      const before = await issuedBy(second);
      const client = new QuittanceClient({ baseUrl: second, apiKey: key });
      const { receipt } = await client.issueReceipt({
        callId: 'via-client',
        agentId: 'agent-1',
        bucket: 'checkout',
        tool: 'complete_checkout',
        inputHash: 'a'.repeat(64),
        outputHash: 'b'.repeat(64),
      });
      expect(receipt.chain.seq).toBe(201);
      expect((await client.verify(receipt)).claims).toMatchObject({
        signature_valid: { status: 'asserted' },
        key_valid_at_issuance: { status: 'asserted' },
      });
      expect(await issuedBy(second)).toBe(before + 1);
      expect(await (await fetch(`${second}/metrics`)).text()).toMatch(
        /quittance_chain_append_batch_size_count \d+/,
      );
    } finally {
      expect(await running.stop()).toEqual([0, 0]);
      collect(running);
    }
  }, 120_000);

  it('two workers, 100 receipts → exactly 100 timestamps requested from the TSA, none twice', async () => {
    const before = tsa.requests;
    const running = await stack(1, 2, {
      QUITTANCE_TSA_URL: tsa.url,
      QUITTANCE_TSA_TRUST: tsa.trustPemPath,
      QUITTANCE_SWEEP_INTERVAL_MS: '100',
      QUITTANCE_CHECKPOINT_EVERY: '1000000',
      QUITTANCE_CHECKPOINT_INTERVAL_S: '100000',
    });
    try {
      const key = await merchant(running, 'shop');
      const base = running.apis[0]?.url as string;
      await Promise.all(Array.from({ length: 100 }, (_, i) => issue(base, key, `t-${i}`)));
      const services = await inspect(running, databases.at(-1)?.url as string);
      const deadline = Date.now() + 60_000;
      let stamped = 0;
      while (Date.now() < deadline) {
        const list = await fetch(`${base}/api/v1/trust/receipts?limit=500`, {
          headers: { authorization: `Bearer ${key}` },
        });
        stamped = ((await list.json()) as { receipts: { timestamp: unknown }[] }).receipts.filter(
          (r) => r.timestamp,
        ).length;
        if (stamped === 100) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      await services.close();
      expect(stamped).toBe(100);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(tsa.requests - before).toBe(100);
    } finally {
      expect(await running.stop()).toEqual([0, 0, 0]);
      collect(running);
    }
  }, 120_000);

  it('SIGKILL of one API process during a 2,000-receipt load loses no acknowledged receipt', async () => {
    const running = await stack(2, 0);
    try {
      const key = await merchant(running, 'shop');
      const acknowledged: string[] = [];
      let next = 0;
      const client = async (c: number) => {
        while (next < 2_000) {
          const i = next++;
          // A client whose server died retries the same callId elsewhere: issuing is idempotent.
          for (let attempt = 0; attempt < 10; attempt++) {
            try {
              const r = await issue(running.apis[(c + attempt) % 2]?.url as string, key, `k-${i}`);
              if (r.status === 201 || r.status === 200)
                acknowledged.push(((await r.json()) as { id: string }).id);
              break;
            } catch {
              // the killed process: its connections break; nothing was acknowledged on them
            }
          }
        }
      };
      const load = Promise.all(Array.from({ length: 32 }, (_, c) => client(c)));
      while (next < 600) await new Promise((r) => setTimeout(r, 20));
      await running.apis[1]?.process.stop('SIGKILL');
      await load;
      expect(new Set(acknowledged).size).toBe(2_000);
      const services = await inspect(running, databases.at(-1)?.url as string);
      const check = await checkChain(services.db, 'shop');
      expect(check.ok).toBe(true);
      const stored = new Set(
        (
          await services.db.query.receipts.findMany({
            columns: { id: true },
            where: (r, { eq }) => eq(r.merchantId, 'shop'),
          })
        ).map((r) => r.id),
      );
      expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
      expect(stored.size).toBe(2_000);
      expect(check.checked).toBe(2_000);
      await services.close();
    } finally {
      await running.stop();
      collect(running);
    }
  }, 120_000);

  it('SIGTERM during load: in-flight requests complete, no 5xx, readyz turns unready first', async () => {
    const running = await stack(1, 0, { QUITTANCE_SHUTDOWN_DELAY_MS: '500' });
    try {
      const key = await merchant(running, 'shop');
      const base = running.apis[0]?.url as string;
      const statuses: number[] = [];
      let failures = 0;
      let stop = false;
      const client = async (c: number) => {
        for (let i = 0; !stop; i++) {
          try {
            statuses.push((await issue(base, key, `s-${c}-${i}`)).status);
          } catch {
            failures++; // refused once the listener closed: not a response, not a 5xx
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      };
      const load = Promise.all(Array.from({ length: 16 }, (_, c) => client(c)));
      await new Promise((r) => setTimeout(r, 500));
      const exited = running.apis[0]?.process.stop('SIGTERM');
      await new Promise((r) => setTimeout(r, 100));
      const ready = await fetch(`${base}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
      expect(ready).toBe(503);
      expect(await exited).toBe(0);
      stop = true;
      await load;
      expect(statuses.length).toBeGreaterThan(50);
      expect(statuses.filter((s) => s >= 500)).toEqual([]);
      expect(statuses.every((s) => s === 201)).toBe(true);
      void failures;
    } finally {
      await running.stop();
      collect(running);
    }
  }, 120_000);

  it('the logs of all of the above contain no API key, admin token, local KEK or body content', () => {
    const logs = allOutput.join('\n');
    expect(logs.length).toBeGreaterThan(1_000);
    expect(logs).toContain('"msg":"request"');
    for (const secret of secrets)
      expect(logs.includes(secret), `log contains ${secret.slice(0, 12)}…`).toBe(false);
  });
});

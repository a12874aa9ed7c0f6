import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { type OwnPostgres, startOwnPostgres, until } from '@quittance/test-tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, QUITTANCE_BIN, type SpawnedApi, startSpawnedApi } from './spawned-api';

/**
 * PostgreSQL restarted (`pg_ctl restart -m fast`) and then stopped for several seconds under
 * steady issuance, on a cluster of the test's own: the API process must stay alive, answer
 * 503 with Retry-After (never 500, never a hang) while the database is away, recover on its
 * own, and keep every receipt it acknowledged in one verifiable chain.
 */
const run = promisify(execFile);
/** The request budget (5 s) and a little: the slowest a 503 may take. */
const ANSWER_WITHIN_MS = 5_500;
const OUTAGE_MS = 8_000;

let pg: OwnPostgres;
let spawned: SpawnedApi;

beforeAll(async () => {
  pg = await startOwnPostgres();
  spawned = await startSpawnedApi({ DATABASE_URL: pg.url });
});
afterAll(async () => {
  await spawned?.close();
  await pg?.close();
});

interface Answer {
  at: number;
  status: number;
  ms: number;
  retryAfter: string | null;
}

describe('PostgreSQL restarts and stops under load', () => {
  it('the API stays up, answers 503 meanwhile, recovers, and loses no acknowledged receipt', async () => {
    const { api, base } = spawned;
    const apiKey = await spawned.merchant('pgfault');

    const answers: Answer[] = [];
    const acknowledged: string[] = [];
    let running = true;
    let n = 0;
    const client = async () => {
      while (running) {
        const started = Date.now();
        let status = 0;
        let retryAfter: string | null = null;
        try {
          const r = await fetch(`${base}/api/v1/trust/receipts`, {
            method: 'POST',
            headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
            body: JSON.stringify({
              callId: `pg-${n++}`,
              agentId: 'agent-1',
              bucket: 'checkout',
              tool: 'complete_checkout',
              input: { n },
              output: { ok: true },
            }),
            signal: AbortSignal.timeout(ANSWER_WITHIN_MS + 5_000),
          });
          status = r.status;
          retryAfter = r.headers.get('retry-after');
          const body = await r.json();
          if (status === 201) acknowledged.push(body.id);
        } catch {}
        answers.push({ at: started, status, ms: Date.now() - started, retryAfter });
        if (status !== 201) await new Promise((r) => setTimeout(r, 200));
      }
    };
    const clients = Array.from({ length: 6 }, client);
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

    await sleep(2_000);
    await pg.restart();
    await sleep(2_000);
    await pg.stop();
    const stoppedAt = Date.now();
    await sleep(OUTAGE_MS);
    const readyStarted = Date.now();
    const readyDuring = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(3_000) });
    const readyMs = Date.now() - readyStarted;
    // The process's metrics stay readable, the database's gauge marked as not read.
    const metricsStarted = Date.now();
    const metricsDuring = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(3_000) });
    const metricsMs = Date.now() - metricsStarted;
    const metricsText = await metricsDuring.text();
    const startingAt = Date.now();
    await pg.start();
    const backAt = Date.now();
    const recoveredAt = await until(
      async () => answers.find((a) => a.at > backAt && a.status === 201)?.at,
      30_000,
    );
    await sleep(2_000);
    running = false;
    await Promise.all(clients);

    // Answered while the database was down: those can only be 503.
    const during = answers.filter((a) => a.at >= stoppedAt && a.at + a.ms < startingAt);
    const statuses = new Map<number, number>();
    for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    const slowest = Math.max(...answers.map((a) => a.ms));
    const unavailable = answers
      .filter((a) => a.status === 503)
      .map((a) => a.ms)
      .sort((a, b) => a - b);
    const median = unavailable[Math.floor(unavailable.length / 2)];
    console.log(
      `postgres outage: ${answers.length} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}, ` +
        `${acknowledged.length} acknowledged, slowest ${slowest} ms, 503 median ${median} ms, ` +
        `recovered ${recoveredAt - backAt} ms after the database was back`,
    );

    expect(api.child.exitCode).toBeNull();
    expect(readyDuring.status).toBe(503);
    expect(readyMs).toBeLessThan(2_000);
    expect(metricsDuring.status).toBe(200);
    expect(metricsText).toContain('quittance_metrics_source_up{source="postgresql"} 0');
    expect(metricsText).toMatch(/^quittance_http_requests_total\{.*status="503"\} \d+$/m);
    expect(metricsMs).toBeLessThan(2_000);
    expect(answers.filter((a) => a.status === 0 || a.status === 500)).toEqual([]);
    expect(during.length).toBeGreaterThan(0);
    expect(during.every((a) => a.status === 503 && a.retryAfter !== null)).toBe(true);
    expect(slowest).toBeLessThan(ANSWER_WITHIN_MS);
    expect(recoveredAt - backAt).toBeLessThan(10_000);

    // Every acknowledged receipt is stored, in one chain that recomputes.
    for (const id of acknowledged) {
      const r = await fetch(`${base}/api/v1/trust/receipts/${id}`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      expect(r.status).toBe(200);
    }
    const check = await run(QUITTANCE_BIN, ['admin', 'chain-check', 'pgfault', '--url', base], {
      env: { ...process.env, QUITTANCE_ADMIN_TOKEN: ADMIN_TOKEN },
    });
    const report = JSON.parse(check.stdout);
    expect(report.ok).toBe(true);
    expect(report.checked).toBeGreaterThanOrEqual(acknowledged.length);
  });
});

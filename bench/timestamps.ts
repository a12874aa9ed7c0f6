/**
 * Timestamps per second against the local OpenSSL TSA: issue N receipts with no job runner,
 * then start the jobs (in-process, or BullMQ with BENCH_REDIS=1) and time the backlog drain.
 * Asserts nothing.   npm run bench:timestamps   (BENCH_RECEIPTS=1000)
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, createQueue, createServices, loadConfig, startJobs } from '@quittance/api';
import { receipts } from '@quittance/db';
import { createTestDatabase, startTsaServer, TEST_REDIS_URL } from '@quittance/test-tooling';
import { eq, sql } from 'drizzle-orm';

const N = Number(process.env.BENCH_RECEIPTS ?? 1000);
const tsa = await startTsaServer();
const database = await createTestDatabase();
const dataDir = await mkdtemp(join(tmpdir(), 'quittance-bench-ts-'));
const config = loadConfig({
  DATABASE_URL: database.url,
  QUITTANCE_DATA_DIR: dataDir,
  QUITTANCE_ADMIN_TOKEN: 'bench-admin-token-0123456789abcdef',
  QUITTANCE_TSA_URL: tsa.url,
  QUITTANCE_TSA_TRUST: tsa.trustPemPath,
  QUITTANCE_SWEEP_INTERVAL_MS: '200',
  LOG_LEVEL: 'warn',
  ...(process.env.BENCH_REDIS ? { REDIS_URL: TEST_REDIS_URL } : {}),
});
const services = await createServices(config);
const app = createApp(services);
try {
  await services.keyRing.createMerchant({ merchantId: 'bench', jurisdiction: 'EU' });
  const { apiKey } = await services.apiKeys.create('bench', 'merchant');
  for (let i = 0; i < N; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, N - i) }, (_, k) =>
        app.request('/api/v1/trust/receipts', {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            callId: `c-${i + k}`,
            agentId: 'a',
            bucket: 'discovery',
            tool: 'search',
            inputHash: 'a'.repeat(64),
            outputHash: 'b'.repeat(64),
          }),
        }),
      ),
    );
  }
  const count = async () =>
    Number(
      (
        await services.db
          .select({ n: sql<number>`count(*)` })
          .from(receipts)
          .where(eq(receipts.legalPosture, 'ades_candidate_timestamped'))
      )[0]?.n ?? 0,
    );
  const started = performance.now();
  const jobs = await startJobs(services, await createQueue(services, `bench-${randomUUID()}`));
  while ((await count()) < N) await new Promise((r) => setTimeout(r, 100));
  const seconds = (performance.now() - started) / 1000;
  await jobs.close();
  console.log(
    `${N} receipts timestamped in ${seconds.toFixed(1)} s: ${Math.round(N / seconds)} timestamps/s ` +
      `(${process.env.BENCH_REDIS ? 'BullMQ' : 'in-process'}, concurrency ${config.tsaConcurrency}, TSA requests ${tsa.requests}, one openssl process per reply)`,
  );
} finally {
  await services.close();
  await database.drop();
  await tsa.close();
  await rm(dataDir, { recursive: true, force: true });
}

import { randomUUID } from 'node:crypto';
import { startOwnRedis, TEST_REDIS_URL } from '@quittance/test-tooling';
import { afterEach, describe, expect, it } from 'vitest';
import { InProcessQueue, type JobQueue, PermanentJobError } from '../src';
import { BullMqQueue } from '../src/bullmq-queue';

const retry = { attempts: 3, baseDelayMs: 20 };
const queues: JobQueue[] = [];
afterEach(async () => {
  for (const q of queues.splice(0)) await q.close();
});

const make = {
  'in-process': (closeTimeoutMs?: number) => new InProcessQueue(retry, undefined, closeTimeoutMs),
  bullmq: (closeTimeoutMs?: number) =>
    new BullMqQueue({
      redisUrl: TEST_REDIS_URL,
      name: `test-${randomUUID()}`,
      retry,
      ...(closeTimeoutMs ? { closeTimeoutMs } : {}),
    }),
};

async function until(check: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.each(Object.entries(make))('%s queue', (kind, create) => {
  it('runs each job once per id, retries transient failures with backoff, never retries permanent ones', async () => {
    const queue = create();
    queues.push(queue);
    const runs: Record<string, number> = {};
    queue.process(
      {
        work: async (data) => {
          const { id, fail } = data as { id: string; fail?: 'twice' | 'permanent' };
          runs[id] = (runs[id] ?? 0) + 1;
          if (fail === 'twice' && (runs[id] as number) <= 2) throw new Error('transient');
          if (fail === 'permanent') throw new PermanentJobError('bad data');
        },
      },
      { concurrency: 4 },
    );
    await Promise.all([
      queue.add('work', { id: 'a' }, { jobId: 'a' }),
      queue.add('work', { id: 'a' }, { jobId: 'a' }),
      queue.add('work', { id: 'b', fail: 'twice' }, { jobId: 'b' }),
      queue.add('work', { id: 'c', fail: 'permanent' }, { jobId: 'c' }),
    ]);
    await until(() => runs.a === 1 && runs.b === 3 && runs.c === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(runs).toEqual({ a: 1, b: 3, c: 1 });
  });

  it('runs a scheduled job repeatedly, once per interval however many schedule it', async () => {
    const a = create();
    const b = make[kind as keyof typeof make]();
    queues.push(a);
    let ticks = 0;
    a.process({ tick: async () => void ticks++ }, { concurrency: 1 });
    await a.schedule('tick', 200);
    await a.schedule('tick', 200);
    // Another process registering the same schedule shares it (Redis); in-process has one process.
    if (kind === 'bullmq') await b.schedule('tick', 200);
    await until(() => ticks >= 3, 5_000);
    expect(ticks).toBeLessThanOrEqual(6);
    await b.close();
  });

  it('close waits for a running job, but not for ever: a stuck one is left after the timeout', async () => {
    const queue = create(500);
    const finished: string[] = [];
    const started: string[] = [];
    queue.process(
      {
        work: async (data) => {
          const { id, ms } = data as { id: string; ms: number | null };
          started.push(id);
          // null: a job that never ends (a peer that never answers).
          await new Promise((resolve) => ms !== null && setTimeout(resolve, ms));
          finished.push(id);
        },
      },
      { concurrency: 2 },
    );
    await queue.add('work', { id: 'quick', ms: 150 }, { jobId: 'quick' });
    await queue.add('work', { id: 'stuck', ms: null }, { jobId: 'stuck' });
    await until(() => started.length === 2);
    const closing = Date.now();
    await queue.close();
    const tookMs = Date.now() - closing;
    // The quick job was waited for; the stuck one for the timeout, not longer.
    expect(finished).toEqual(['quick']);
    expect(tookMs).toBeGreaterThanOrEqual(450);
    expect(tookMs).toBeLessThan(5_000);
  });
});

describe('BullMQ with Redis down', () => {
  it('add fails fast instead of hanging, and works again once Redis is back', async () => {
    const redis = await startOwnRedis();
    const reported: Error[] = [];
    const queue = new BullMqQueue({
      redisUrl: redis.url,
      name: `test-${randomUUID()}`,
      retry,
      addTimeoutMs: 1_000,
      onRedisError: (error) => reported.push(error),
    });
    try {
      await queue.add('work', {}, { jobId: 'x' });
      expect(reported).toEqual([]);
      await redis.stop();
      const started = Date.now();
      await expect(queue.add('work', {}, { jobId: 'y' })).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(3_000);
      // Said, not hidden (a worker waiting on Redis looked hung), and not once per retry.
      await until(() => reported.length > 0);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(reported).toHaveLength(1);
      await redis.start();
      let ok = false;
      for (let i = 0; i < 50 && !ok; i++) {
        ok = await queue.add('work', {}, { jobId: 'z' }).then(
          () => true,
          () => false,
        );
        if (!ok) await new Promise((r) => setTimeout(r, 200));
      }
      expect(ok).toBe(true);
    } finally {
      await queue.close();
      await redis.close();
    }
  });
});

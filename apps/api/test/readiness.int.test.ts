import { setTimeout as sleep } from 'node:timers/promises';
import { EMBEDDED_STALL_MS } from '@quittance/db';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './harness';

/**
 * /readyz on the embedded database (one connection): a long queue of work that moves is
 * ready (a probe query would have waited behind it and said "not ready" after a second, as a
 * soak run once saw), and a connection held while nothing is processed is not.
 */
let h: Harness;
beforeAll(async () => {
  h = await createHarness({ embedded: true });
});
afterAll(() => h.close());

const readyz = async () => {
  const started = Date.now();
  const r = await h.call('GET', '/readyz');
  return { status: r.status, ms: Date.now() - started };
};

describe('/readyz on the embedded database', () => {
  it('is 200 at once while a queue of several seconds of work moves', async () => {
    // About 3 s of transactions queued at once, each waiting outside the database between
    // its statements, as the service's own do.
    const queue = Array.from({ length: 150 }, () =>
      h.services.db.transaction(async (tx) => {
        await tx.execute(sql`select pg_sleep(0.01)`);
        await sleep(10);
        await tx.execute(sql`select 1`);
      }),
    );
    await sleep(300);
    const during = [await readyz(), await readyz()];
    await Promise.all(queue);
    expect(during.map((r) => r.status)).toEqual([200, 200]);
    expect(Math.max(...during.map((r) => r.ms))).toBeLessThan(500);
  });

  it(`is 503 once the connection is held ${EMBEDDED_STALL_MS} ms with nothing processed, and 200 after`, async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const holding = h.services.db.transaction(async (tx) => {
      await tx.execute(sql`select 1`);
      await held;
    });
    const waiting = h.services.db.execute(sql`select 2`);
    const early = await readyz();
    await sleep(EMBEDDED_STALL_MS + 200);
    const wedged = await readyz();
    release();
    await Promise.all([holding, waiting]);
    const after = await readyz();
    expect(early.status).toBe(200);
    expect(wedged.status).toBe(503);
    expect(wedged.ms).toBeLessThan(500);
    expect(after.status).toBe(200);
  });
});

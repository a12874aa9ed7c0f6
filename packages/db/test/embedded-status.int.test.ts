import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../src';

/**
 * The embedded database's status says whether its one connection is getting through the work
 * queued on it (ready, however long the queue) or holds it while nothing is processed (a
 * wedge): read from the instance, so that a probe never waits behind the queue.
 */
let database: Database;
beforeEach(async () => {
  database = await openDatabase({});
});
afterEach(() => database.close());

const status = async () => {
  const s = await database.status?.();
  if (!s) throw new Error('no status on the embedded database');
  return s;
};

describe('the embedded database status', () => {
  it('is idle with nothing in flight', async () => {
    await database.db.execute(sql`select 1`);
    expect(await status()).toMatchObject({ open: true, busy: false, stalledMs: 0 });
  });

  it('is busy, not stalled, while a long queue of work moves', async () => {
    // About 1.5 s of transactions queued at once on the one connection, each waiting on
    // something outside the database between its statements (as the service's do).
    const queue = Array.from({ length: 60 }, () =>
      database.db.transaction(async (tx) => {
        await tx.execute(sql`select pg_sleep(0.01)`);
        await sleep(10);
        await tx.execute(sql`select 1`);
      }),
    );
    const seen: { busy: boolean; stalledMs: number }[] = [];
    let settled = false;
    const all = Promise.all(queue).finally(() => {
      settled = true;
    });
    while (!settled) {
      await sleep(100);
      if (!settled) seen.push(await status());
    }
    await all;
    expect(seen.length).toBeGreaterThan(5);
    expect(seen.every((s) => s.busy)).toBe(true);
    expect(Math.max(...seen.map((s) => s.stalledMs))).toBeLessThan(500);
    expect(await status()).toMatchObject({ busy: false, stalledMs: 0 });
  });

  it('counts the time a transaction holds the connection while nothing is processed', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const holding = database.db.transaction(async (tx) => {
      await tx.execute(sql`select 1`);
      await held;
    });
    const waiting = database.db.execute(sql`select 2`);
    await sleep(600);
    const during = await status();
    expect(during.busy).toBe(true);
    expect(during.stalledMs).toBeGreaterThanOrEqual(500);
    release();
    await Promise.all([holding, waiting]);
    expect(await status()).toMatchObject({ busy: false, stalledMs: 0 });
  });
});

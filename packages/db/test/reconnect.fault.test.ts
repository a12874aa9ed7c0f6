import { type OwnPostgres, startOwnPostgres } from '@quittance/test-tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../src';

/**
 * After an outage, queries reach PostgreSQL as soon as it is back. postgres.js hands a query
 * to a closed connection, which dials only once its reconnect backoff has passed; its default
 * backoff grows with every failed attempt of the whole pool (3^n/100 s, up to 20 s), so after
 * a few seconds down, queries waited 5–18 s with the database up, and a process's one chain
 * append in flight held all its issues (an outside check; client.ts sets the backoff).
 */
let pg: OwnPostgres;
let database: Database;

beforeAll(async () => {
  pg = await startOwnPostgres();
  database = await openDatabase({ url: pg.url, max: 8 });
});
afterAll(async () => {
  await database?.close();
  await pg?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a pool that failed many times while PostgreSQL was down', () => {
  it('answers within a second of PostgreSQL being back', async () => {
    await database.rawQuery('select 1');
    await pg.stop();
    // Callers keep asking while it is down, as an API under load does.
    let down = true;
    const askers = Array.from({ length: 8 }, async () => {
      while (down) {
        await database.rawQuery('select 1').catch(() => undefined);
        await sleep(20);
      }
    });
    await sleep(5_000);
    down = false;
    await Promise.all(askers);
    await pg.start();
    const back = performance.now();
    const waits = await Promise.all(
      Array.from({ length: 16 }, async () => {
        await database.rawQuery('select 1');
        return Math.round(performance.now() - back);
      }),
    );
    expect(Math.max(...waits), `waits ${waits.join(', ')} ms`).toBeLessThan(1_000);
  }, 60_000);
});

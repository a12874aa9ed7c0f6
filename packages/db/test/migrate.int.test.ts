import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, migrate, openDatabase, rowsOf } from '../src';

const ALL = readdirSync(MIGRATIONS_DIR)
  .filter((f) => f.endsWith('.sql'))
  .sort();

const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
const created: string[] = [];

/** A fresh, empty database on the real server for one test. */
async function emptyDatabase(): Promise<string> {
  const name = `quittance_test_${randomUUID().replaceAll('-', '')}`;
  await admin.unsafe(`create database ${name}`);
  created.push(name);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

afterAll(async () => {
  for (const name of created) await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.end();
});

async function tables(db: Awaited<ReturnType<typeof openDatabase>>['db']) {
  const result = await db.execute(
    sql`select table_name from information_schema.tables where table_schema = 'public' order by 1`,
  );
  return rowsOf<{ table_name: string }>(result).map((r) => r.table_name);
}

describe('migrations', () => {
  it('apply to an empty PostgreSQL database, once, even when two processes race', async () => {
    const url = await emptyDatabase();
    const a = await openDatabase({ url });
    const b = await openDatabase({ url });
    const [ra, rb] = await Promise.all([migrate(a.db), migrate(b.db)]);
    expect(ALL.length).toBeGreaterThanOrEqual(2);
    expect([...ra.applied, ...rb.applied].sort()).toEqual(ALL);
    expect(await tables(a.db)).toEqual(
      expect.arrayContaining(['receipts', 'chain_heads', 'quittance_migrations']),
    );
    expect((await migrate(a.db)).applied).toEqual([]);
    await a.close();
    await b.close();
  });

  it('apply to an empty embedded PGlite database', async () => {
    const pg = await openDatabase({});
    expect(pg.driver).toBe('pglite');
    expect((await migrate(pg.db)).applied).toEqual(ALL);
    expect(await tables(pg.db)).toEqual(
      expect.arrayContaining(['receipts', 'vault_keys', 'key_snapshots']),
    );
    await pg.close();
  });
});

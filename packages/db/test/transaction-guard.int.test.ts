import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, merchants, OuterHandleInTransactionError, openDatabase } from '../src';

const URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Settles within `ms` or fails: a guard that hangs instead of throwing is the bug itself. */
function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`no answer within ${ms} ms: wedged`)), ms),
    ),
  ]);
}

describe.each([
  ['PGlite', () => openDatabase({})],
  ['PostgreSQL', () => openDatabase({ url: URL, max: 2, strictTransactions: true })],
])('transaction guard on %s', (_name, open) => {
  let database: Database;
  beforeAll(async () => {
    database = await open();
  });
  afterAll(() => database.close());

  it('refuses the outer handle inside a transaction instead of waiting for it', async () => {
    const { db } = database;
    const attempt = db.transaction(async (tx) => {
      await tx.execute(sql`select 1`);
      await db.execute(sql`select 2`);
    });
    await expect(within(5_000, attempt)).rejects.toBeInstanceOf(OuterHandleInTransactionError);
    // Every query member is covered, including the plain-SQL transaction and nesting.
    for (const use of [
      () => db.select().from(merchants),
      () => db.insert(merchants).values({ id: 'x', jurisdiction: 'EU' }),
      () => db.transaction(async () => {}),
      () => database.rawTransaction(async () => {}),
    ]) {
      await expect(
        within(
          5_000,
          db.transaction(async () => {
            await use();
          }),
        ),
      ).rejects.toBeInstanceOf(OuterHandleInTransactionError);
    }
    await expect(
      within(
        5_000,
        database.rawTransaction(async () => {
          await db.execute(sql`select 3`);
        }),
      ),
    ).rejects.toBeInstanceOf(OuterHandleInTransactionError);
  });

  it('allows the transaction handle, and the outer handle again once the transaction ended', async () => {
    const { db } = database;
    let later: Promise<unknown> | undefined;
    const value = await within(
      5_000,
      db.transaction(async (tx) => {
        // Started inside, run after the commit: not refused then.
        later = new Promise((resolve) => setTimeout(resolve, 20)).then(() =>
          db.execute(sql`select 4`),
        );
        const nested = await tx.transaction(async (inner) => inner.execute(sql`select 5 as n`));
        return nested;
      }),
    );
    expect(value).toBeTruthy();
    await expect(within(5_000, later as Promise<unknown>)).resolves.toBeTruthy();
    await expect(within(5_000, db.execute(sql`select 6`))).resolves.toBeTruthy();
  });

  it('lets other requests use the outer handle while a transaction is open', async () => {
    const { db } = database;
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const transaction = db.transaction(async (tx) => {
      await tx.execute(sql`select 7`);
      await held;
    });
    // Another request's context: queued on PGlite, run on another connection on PostgreSQL.
    const other = db.execute(sql`select 8`);
    setTimeout(release, 50);
    await within(5_000, Promise.all([transaction, other]));
  });
});

describe('PostgreSQL without the guard', () => {
  it('is unguarded unless asked for, so the hot path pays no async-context cost', async () => {
    const database = await openDatabase({ url: URL, max: 2, strictTransactions: false });
    try {
      await database.db.transaction(async (tx) => {
        await tx.execute(sql`select 1`);
        await database.db.execute(sql`select 1`);
      });
    } finally {
      await database.close();
    }
  });
});

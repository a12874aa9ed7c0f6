import { AsyncLocalStorage } from 'node:async_hooks';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { EmbeddedDatabase, type EmbeddedEvent, type EmbeddedStatus } from './embedded';
import * as schema from './schema';
import { guardTransactions, strictTransactions } from './transaction-guard';

export type Schema = typeof schema;
/** One type for both drivers: everything above this module is driver-agnostic. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** A plain parameterized query on one connection: `$1`-style parameters, rows out. */
export type RawQuery = <T = Record<string, unknown>>(
  text: string,
  params?: unknown[],
) => Promise<T[]>;

export interface Database {
  readonly db: Db;
  readonly driver: 'postgres' | 'pglite';
  /**
   * A transaction in plain SQL, for the one hot path (chain appends) where building queries
   * through the ORM costs more CPU than the database work. Queries issued without awaiting
   * each other are pipelined on PostgreSQL.
   */
  rawTransaction<T>(fn: (query: RawQuery) => Promise<T>): Promise<T>;
  /**
   * One statement in plain SQL, committed on its own (a prepared statement on PostgreSQL):
   * for the chain append, whose whole transaction is one server-side function call.
   */
  rawQuery: RawQuery;
  /**
   * The embedded database only: whether an instance is open (not being reopened after an
   * abort) and whether its folder is out of space. PostgreSQL is probed with a query instead.
   */
  status?(): Promise<EmbeddedStatus>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** A PostgreSQL URL; without it the embedded PGlite is used. */
  url?: string | undefined;
  /** PGlite data folder; in memory when absent. */
  dataDir?: string | undefined;
  /** Pool size for PostgreSQL. */
  max?: number;
  /**
   * Refuse the outer handle inside its own transactions (see transaction-guard.ts). Always on
   * for PGlite, where the mistake hangs; on PostgreSQL under test or when asked for.
   */
  strictTransactions?: boolean;
  /** The embedded database stopped, was reopened, or could not be (for the log). */
  onEmbeddedEvent?: (event: EmbeddedEvent) => void;
}

/** PostgreSQL through postgres.js when a URL is given, else embedded PGlite (single connection). */
export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  if (options.url) {
    const client = postgres(options.url, {
      max: options.max ?? 10,
      onnotice: () => {},
      // A database that is down answers "unavailable" in about two seconds, not thirty.
      connect_timeout: 2,
      // A query handed to a closed connection waits out that connection's reconnect backoff
      // before the connection even dials, however long the database has been back and however
      // many other connections are open. postgres.js's default backoff grows with every failed
      // attempt of the whole pool (3^n/100 s, up to 20 s): after a restart of a few seconds,
      // queries (the one chain append in flight, /readyz's probe) waited 5–18 s for it. A few
      // hundred ms at most: a request against a database that is down still fails fast
      // (ECONNREFUSED), and one that is back is reached at once.
      // Jittered (×0.5–1, as the default is), so a fleet does not dial in step.
      backoff: (retries: number) => (0.5 + Math.random() / 2) * Math.min(0.01 * 2 ** retries, 0.25),
      // No session may hold a lock for long: a transaction left idle (a stuck caller) is
      // ended by the server, and waits for locks or statements are bounded.
      connection: {
        application_name: 'quittance',
        idle_in_transaction_session_timeout: 15_000,
        lock_timeout: 10_000,
        statement_timeout: 30_000,
      },
    });
    const database: Database = {
      db: drizzlePostgres(client, { schema }) as unknown as Db,
      driver: 'postgres',
      rawTransaction: (fn) =>
        client.begin((sql) =>
          fn((text, params) => sql.unsafe(text, params as never[]) as never),
        ) as never,
      rawQuery: (text, params) =>
        client.unsafe(text, params as never[], { prepare: true }) as never,
      close: () => client.end({ timeout: 5 }),
    };
    return (options.strictTransactions ?? strictTransactions()) ? guarded(database) : database;
  }
  // PGlite behind a handle that survives its instance: an abort (a WAL segment that cannot be
  // created on a full disk) reopens the folder in-process instead of spinning (embedded.ts).
  const { drizzle: drizzlePglite } = await import('drizzle-orm/pglite');
  const embedded = await EmbeddedDatabase.open(options.dataDir, options.onEmbeddedEvent);
  const client = embedded.client;
  return guarded({
    db: drizzlePglite(client as never, { schema }) as unknown as Db,
    driver: 'pglite',
    rawTransaction: (fn) =>
      client.transaction((tx) =>
        fn(async (text, params) => (await tx.query(text, params)).rows as never),
      ),
    rawQuery: async (text, params) => (await client.query(text, params)).rows as never,
    status: () => embedded.status(),
    close: () => embedded.close(),
  });
}

/** One guard over both handles: the ORM's and the plain-SQL one share a connection pool. */
function guarded(database: Database): Database {
  const storage = new AsyncLocalStorage<{ open: boolean }>();
  const db = guardTransactions(database.db, storage);
  return guardTransactions({ ...database, db }, storage);
}

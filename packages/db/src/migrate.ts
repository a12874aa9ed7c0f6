import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { Db } from './client';

/** Set by the production build (scripts/build.mjs), which copies the migrations beside it. */
declare const QUITTANCE_BUILD: boolean | undefined;

/** The SQL migrations drizzle-kit generated from `schema.ts`, committed at the repository root. */
export const MIGRATIONS_DIR = fileURLToPath(
  typeof QUITTANCE_BUILD === 'boolean'
    ? new URL('./migrations', import.meta.url)
    : new URL('../../../migrations', import.meta.url),
);

/** Arbitrary constant: the advisory lock every Quittance process takes to migrate. */
const MIGRATION_LOCK = 7_362_553_001;

export interface MigrationResult {
  applied: string[];
}

/**
 * Applies pending migrations in one transaction under an advisory lock, so that several
 * processes starting together neither race nor half-apply. Refuses to run when a migration
 * that was applied has since been edited.
 */
export async function migrate(db: Db, dir: string = MIGRATIONS_DIR): Promise<MigrationResult> {
  const files = (await readdir(dir)).filter((name) => name.endsWith('.sql')).sort();
  const migrations = await Promise.all(
    files.map(async (name) => {
      const text = await readFile(join(dir, name), 'utf8');
      return { name, text, checksum: createHash('sha256').update(text).digest('hex') };
    }),
  );
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    await tx.execute(sql`create table if not exists quittance_migrations (
      name text primary key,
      checksum text not null,
      applied_at timestamptz not null default now()
    )`);
    const done = new Map<string, string>();
    const rows = await tx.execute(sql`select name, checksum from quittance_migrations`);
    for (const row of rowsOf<{ name: string; checksum: string }>(rows))
      done.set(row.name, row.checksum);
    const applied: string[] = [];
    for (const migration of migrations) {
      const checksum = done.get(migration.name);
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) {
          throw new Error(`migration ${migration.name} was edited after it was applied`);
        }
        continue;
      }
      for (const statement of migration.text.split('--> statement-breakpoint')) {
        if (statement.trim()) await tx.execute(sql.raw(statement));
      }
      await tx.execute(
        sql`insert into quittance_migrations (name, checksum) values (${migration.name}, ${migration.checksum})`,
      );
      applied.push(migration.name);
    }
    return { applied };
  });
}

/** postgres.js returns rows as the result itself, PGlite under `.rows`. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}

import { readFile } from 'node:fs/promises';
import { type Db, wrappedKeys } from '@quittance/db';
import { type LocalKeyWrapper, VaultError } from '@quittance/vault';
import { eq, like } from 'drizzle-orm';

/** Where a secret came from when it was asked for (for the start-up log). */
export type SecretOrigin = 'stored' | 'imported' | 'generated';

/**
 * Secrets that every process needs and no process may keep alone, without KMS: the publisher
 * key, the vault's key-encryption key and local merchant signing keys, kept in the database
 * wrapped by QUITTANCE_LOCAL_KEK (SPEC §11), so processes with separate data folders share
 * them. Each is bound to its name (the AAD); the first process to store one wins, and every
 * other uses what it stored.
 */
export class WrappedKeyStore {
  constructor(
    private readonly db: Db,
    private readonly kek: LocalKeyWrapper,
  ) {}

  /** The secret stored under `name`, or undefined; refuses one wrapped by another KEK. */
  async get(name: string): Promise<Uint8Array | undefined> {
    const [row] = await this.db.select().from(wrappedKeys).where(eq(wrappedKeys.name, name));
    if (!row) return undefined;
    if (row.kekId !== this.kek.id)
      throw new VaultError(
        'unwrap_failed',
        `the key "${name}" in the database is wrapped by another QUITTANCE_LOCAL_KEK (id ${row.kekId}; this process has ${this.kek.id}): give every process the same QUITTANCE_LOCAL_KEK`,
      );
    return this.kek.unwrap(row.wrapped, context(name));
  }

  /** Names stored that start with `prefix` (one statement; nothing is unwrapped). */
  async namesStartingWith(prefix: string): Promise<Set<string>> {
    const rows = await this.db
      .select({ name: wrappedKeys.name })
      .from(wrappedKeys)
      .where(like(wrappedKeys.name, `${prefix}%`));
    return new Set(rows.map((r) => r.name));
  }

  /** Stores `secret` under `name` unless a secret is there already; returns the stored one. */
  async putIfAbsent(name: string, secret: Uint8Array): Promise<Uint8Array> {
    await this.db
      .insert(wrappedKeys)
      .values({ name, kekId: this.kek.id, wrapped: this.kek.wrap(secret, context(name)) })
      .onConflictDoNothing();
    const stored = await this.get(name);
    if (!stored) throw new Error(`wrapped key ${name} vanished after it was stored`);
    return stored;
  }

  /**
   * The secret `name`: the stored one; else the one an earlier version kept in this data
   * folder (`fromFile`), imported once, so that what it signed or wrapped stays verifiable
   * and readable; else, only when `mayGenerate` allows it, a new one.
   */
  async resolve(
    name: string,
    sources: {
      fromFile: () => Promise<Uint8Array | undefined>;
      generate: () => Uint8Array;
      /** Throws when a new secret would orphan what the database already holds. */
      assertMayGenerate: () => Promise<void>;
    },
  ): Promise<{ secret: Uint8Array; origin: SecretOrigin }> {
    const stored = await this.get(name);
    if (stored) return { secret: stored, origin: 'stored' };
    const file = await sources.fromFile();
    if (file) return { secret: await this.putIfAbsent(name, file), origin: 'imported' };
    await sources.assertMayGenerate();
    return { secret: await this.putIfAbsent(name, sources.generate()), origin: 'generated' };
  }
}

function context(name: string) {
  return { purpose: 'quittance-local-key', name };
}

/** A file's bytes, or undefined when there is none. */
export async function readIfPresent(path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The data folder holds key hashes, receipts, wrapped data keys and, in development, private
 * keys: readable by this user only. The umask covers what PGlite, the key files and bundles
 * create from now on (PGlite alone would write 0644 files and a 0666 pg_hba.conf); the walk
 * mends a folder made by an earlier version or under a looser umask.
 */
export async function prepareDataFolder(dir: string): Promise<void> {
  process.umask(0o077);
  let entries: string[];
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    entries = await readdir(dir);
  } catch (error) {
    throw new Error(
      `the data folder ${dir} (QUITTANCE_DATA_DIR) cannot be used: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  // Never someone's home or project folder: the walk below would take its modes away.
  if (entries.length > 0 && !entries.some((name) => OWN_ENTRIES.has(name)))
    throw new Error(
      `the data folder ${dir} (QUITTANCE_DATA_DIR) holds other files and none of a Quittance data folder: give a new or empty folder`,
    );
  await restrictOwn(dir, entries);
}

/** What the service keeps in its data folder: the walk that mends modes goes nowhere else. */
const OWN_ENTRIES = new Set([
  'admin-token',
  'pglite',
  'pglite.lock',
  'keys',
  'exports',
  's3',
  'vault.key',
  'publisher.jwk',
  'local-kek',
]);

/**
 * PGlite sets some modes itself, past the umask (its relation-cache files come out 0644).
 * The folder is 0700, so nobody else can reach them meanwhile; they are mended on each stop.
 */
export async function restrictDataFolder(dir: string): Promise<void> {
  await restrictOwn(dir).catch(() => {});
}

/**
 * The folder itself and what the service keeps in it, each to this user only; `entries` is
 * the folder's listing when the caller has read it already.
 */
async function restrictOwn(dir: string, entries?: string[]): Promise<void> {
  const stat = await lstat(dir);
  if ((stat.mode & 0o777) !== 0o700) await chmod(dir, 0o700);
  for (const name of entries ?? (await readdir(dir)))
    if (OWN_ENTRIES.has(name)) await restrict(join(dir, name));
}

async function restrict(path: string): Promise<void> {
  const stat = await lstat(path);
  if (stat.isSymbolicLink()) return;
  if (stat.isDirectory()) {
    if ((stat.mode & 0o777) !== 0o700) await chmod(path, 0o700);
    for (const name of await readdir(path)) await restrict(join(path, name));
  } else if ((stat.mode & 0o077) !== 0) {
    await chmod(path, stat.mode & 0o700);
  }
}

import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * One process per embedded database. PGlite has no lock of its own: a second process on the
 * same folder started, answered, and wrote the same files (found by probing). A file beside
 * the folder holds the owner's pid; one left by a process that is gone is taken over, and the
 * same process may open its folder again (a reopen, or tests). Returns the release.
 */
export async function lockFolder(folder: string): Promise<() => Promise<void>> {
  const path = `${folder}.lock`;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => unlink(path).catch(() => {});
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (owner === process.pid) return async () => {};
    if (Number.isSafeInteger(owner) && owner > 0 && isRunning(owner))
      throw new Error(
        `the embedded database in ${folder} is in use by process ${owner}: one process per data folder (give each its own QUITTANCE_DATA_DIR, or share PostgreSQL through DATABASE_URL)`,
      );
    await unlink(path).catch(() => {}); // left by a process that is gone
  }
  throw new Error(`the embedded database in ${folder} could not be locked (${path})`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, rowsOf } from '../src';

/**
 * The embedded database's first start creates it on a worker thread (its memory then all
 * freed), and opens it in the process: it works, and what the creation throws reaches the
 * caller as PGlite threw it, errno included.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'quittance-embedded-create-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('a first start of the embedded database', () => {
  it('creates the folder and opens it', async () => {
    const folder = join(dir, 'new');
    const database = await openDatabase({ dataDir: folder });
    try {
      expect(existsSync(join(folder, 'PG_VERSION'))).toBe(true);
      const rows = rowsOf<{ one: number }>(await database.db.execute(sql`select 1 as one`));
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await database.close();
    }
  });

  it('that cannot create it says why in one line, with the errno, not as an unhandled rejection', async () => {
    const folder = join(dir, 'a-file');
    await writeFile(folder, 'not a folder');
    const opening = openDatabase({ dataDir: folder });
    await expect(opening).rejects.toThrow(/could not start: ErrnoError errno \d+$/);
  });
});

import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDLE_FILE_AGE_MS, removeUnfinishedWrites } from '../src/jobs/unfinished-writes';
import { createHarness, type Harness } from './harness';

// Found by the second soak: each export killed with SIGKILL left a `.partial` of megabytes in
// the data folder, removed only a day later; a key file's temporary holds a private key.

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ embedded: true });
});
afterAll(async () => {
  await h?.close();
});

describe('unfinished writes of killed processes', () => {
  it('are removed once idle for 10 minutes; files being written, and finished ones, stay', async () => {
    const dataDir = h.services.config.dataDir;
    const exports = join(dataDir, 'exports', 'EU', 'acme');
    const keys = join(dataDir, 'keys');
    await mkdir(exports, { recursive: true });
    await mkdir(keys, { recursive: true });
    const files = {
      deadBundle: join(exports, '.exp_1.zip.a1b2c3.partial'),
      liveBundle: join(exports, '.exp_2.zip.d4e5f6.partial'),
      finished: join(exports, 'exp_3.zip'),
      deadKey: join(keys, 'acme-2026Q4.jwk.4242.0b7e.tmp'),
      liveKey: join(keys, 'acme-2026Q4-1.jwk.4243.9c1d.tmp'),
    };
    for (const path of Object.values(files)) await writeFile(path, 'x');
    const idle = new Date(Date.now() - IDLE_FILE_AGE_MS - 60_000);
    for (const path of [files.deadBundle, files.deadKey, files.finished])
      await utimes(path, idle, idle);
    expect(await removeUnfinishedWrites(h.services)).toEqual({ bundles: 1, keyFiles: 1 });
    expect((await readdir(exports)).sort()).toEqual(['.exp_2.zip.d4e5f6.partial', 'exp_3.zip']);
    expect((await readdir(keys)).filter((n) => n.endsWith('.tmp'))).toEqual([
      'acme-2026Q4-1.jwk.4243.9c1d.tmp',
    ]);
  });
});

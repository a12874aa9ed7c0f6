/**
 * The browser's verdict is the CLI's: a valid bundle mutated at random (flipped bytes anywhere,
 * truncation, sizes patched in the central directory or a local header) and verified through
 * both zip readers, yauzl over the file and the portable reader over a Blob. Both must end the
 * same way: the same report, or a BundleError with the same code. Replay with PARITY_SEED.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleError } from '../../src/bundle/errors';
import { verifyBundle } from '../../src/bundle/verify-bundle';
import { type BundleData, exportFiles, makeData, seal, zip } from '../bundle/make-bundle';
import { mutate, prng } from './mutations';

const CASES = Number(process.env.PARITY_CASES ?? 300);
const SEED = Number(process.env.PARITY_SEED ?? 20_261_128);

let data: BundleData;
let original: Uint8Array<ArrayBuffer>;
let dir: string;
beforeAll(async () => {
  data = await makeData(4);
  original = zip(await seal(data, await exportFiles(data), 'export'));
  dir = await mkdtemp(join(tmpdir(), 'quittance-parity-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function verdict(run: () => Promise<unknown>) {
  try {
    return { result: await run() };
  } catch (error) {
    if (error instanceof BundleError)
      return { code: error.code, inflate: error.message.includes('cannot be inflated') };
    throw error;
  }
}

describe('reader parity under mutation', () => {
  it(`${CASES} mutated bundles: the same verdict from the file (yauzl) and from a Blob`, async () => {
    const int = prng(SEED);
    const options = { publisher: data.publisher, keepReceipts: true };
    const differ: string[] = [];
    let refused = 0;
    for (let n = 1; n <= CASES; n++) {
      const { bytes, what } = mutate(original, int);
      const path = join(dir, `m-${n}.zip`);
      await writeFile(path, bytes);
      const node = await verdict(() => verifyBundle(path, options));
      const portable = await verdict(() => verifyBundle(new Blob([bytes]), options));
      if ('code' in node) refused++;
      try {
        expect(portable).toEqual(node);
      } catch {
        differ.push(
          `#${n} ${what}: ${JSON.stringify(node).slice(0, 120)} vs ${JSON.stringify(portable).slice(0, 120)}`,
        );
      }
    }
    expect(differ).toEqual([]);
    expect(refused).toBeGreaterThan(CASES / 10);
  }, 300_000);
});

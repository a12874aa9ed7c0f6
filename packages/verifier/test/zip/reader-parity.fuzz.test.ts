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

/** mulberry32: seeded, so that a failing case can be replayed. */
function prng(seed: number) {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4_294_967_296) * n);
  };
}

function mutate(
  bytes: Uint8Array<ArrayBuffer>,
  int: (n: number) => number,
): { bytes: Uint8Array<ArrayBuffer>; what: string } {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  const eocd = out.length - 22;
  const central = view.getUint32(eocd + 16, true);
  switch (int(4)) {
    case 0: {
      const at = int(out.length);
      out[at] = (out[at] as number) ^ (1 << int(8));
      return { bytes: out, what: `flip byte ${at}` };
    }
    case 1: {
      const length = int(out.length);
      return { bytes: out.subarray(0, length), what: `truncate to ${length}` };
    }
    case 2: {
      // A size field of one central directory record (entries are walked to find it).
      let at = central;
      for (let skip = int(view.getUint16(eocd + 10, true)); skip > 0; skip--)
        at +=
          46 +
          view.getUint16(at + 28, true) +
          view.getUint16(at + 30, true) +
          view.getUint16(at + 32, true);
      const field = at + (int(2) ? 20 : 24);
      const value = [0, 1, view.getUint32(field, true) + 1, 0x7fffffff][int(4)] as number;
      view.setUint32(field, value, true);
      return { bytes: out, what: `central size at ${field} = ${value}` };
    }
    default: {
      const field = (int(2) ? 18 : 22) + 0; // the first local header's sizes
      view.setUint32(field, int(2) ? 0 : view.getUint32(field, true) + 7, true);
      return { bytes: out, what: `local size at ${field}` };
    }
  }
}

async function verdict(run: () => Promise<unknown>) {
  try {
    return { result: await run() };
  } catch (error) {
    if (error instanceof BundleError)
      return { code: error.code, inflate: error.message.includes('cannot be inflated') };
    throw error;
  }
}

type Verdict = Awaited<ReturnType<typeof verdict>>;

/**
 * The one known difference: a flipped bit inside deflated data that zlib (yauzl) refuses as
 * an invalid stream (an incomplete Huffman table: "invalid distances set") while fflate
 * (portable) inflates it, to other bytes (files_intact refuted) or, when the bit is in a code
 * the data never uses, to the same bytes, whose SHA-256 the manifest signs (a valid verdict).
 */
function inflateDivergence(a: Verdict, b: Verdict): boolean {
  const [refused, read] = 'code' in a ? [a, b] : [b, a];
  return 'code' in refused && refused.inflate === true && 'result' in read;
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
        if (!inflateDivergence(node, portable)) expect(portable).toEqual(node);
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

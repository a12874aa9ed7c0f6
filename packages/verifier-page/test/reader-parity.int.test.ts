/**
 * The browser's verdict is the CLI's, down to the zip reader: mutated exports and order
 * evidence bundles verified by the verifier's browser build in Chromium (the portable reader,
 * the browser's zlib through DecompressionStream) end as they end in Node through yauzl over
 * the file (Node's zlib): the same report, or a BundleError with the same code. Replay with
 * PARITY_SEED.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launchBrowser, type TestBrowser } from '@quittance/test-tooling';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleError, verifyBundle } from '../../verifier/src';
import {
  type BundleData,
  evidenceFiles,
  exportFiles,
  makeData,
  seal,
  zip,
} from '../../verifier/test/bundle/make-bundle';
import { mutate, prng } from '../../verifier/test/zip/mutations';

/** Cases per kind of bundle. */
const CASES = Number(process.env.PARITY_CASES ?? 100);
const SEED = Number(process.env.PARITY_SEED ?? 20_261_206);

let browser: TestBrowser;
let page: Page;
let dir: string;
let data: BundleData;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'quittance-browser-parity-'));
  const built = await build({
    entryPoints: [resolve(import.meta.dirname, '../../verifier/src/index.ts')],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'quittanceVerifier',
    write: false,
    logLevel: 'silent',
  });
  await writeFile(join(dir, 'verifier.js'), built.outputFiles[0]?.text as string);
  // A file: page is a secure context (WebCrypto), as the verifier page opened from disk.
  await writeFile(join(dir, 'index.html'), '<!doctype html><script src="verifier.js"></script>');
  browser = await launchBrowser();
  page = await browser.context.newPage();
  await page.goto(pathToFileURL(join(dir, 'index.html')).href);
  data = await makeData(4);
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await rm(dir, { recursive: true, force: true });
});

type Outcome = { result: unknown } | { code: string; inflate: boolean } | { thrown: string };

/** In Node, from the file: yauzl. */
async function inNode(path: string): Promise<Outcome> {
  try {
    const result = await verifyBundle(path, { publisher: data.publisher, keepReceipts: true });
    return { result: JSON.parse(JSON.stringify(result)) };
  } catch (error) {
    if (error instanceof BundleError)
      return { code: error.code, inflate: error.message.includes('cannot be inflated') };
    return { thrown: String(error) };
  }
}

/** In Chromium, from a Blob: the portable reader. */
function inChromium(bytes: Uint8Array): Promise<Outcome> {
  return page.evaluate(
    async ({ base64, jwks }) => {
      const v = (globalThis as unknown as { quittanceVerifier: any }).quittanceVerifier;
      const zipped = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      try {
        const result = await v.verifyBundle(new Blob([zipped]), {
          publisher: v.parsePublisherKeys(jwks),
          keepReceipts: true,
        });
        return { result: JSON.parse(JSON.stringify(result)) };
      } catch (error) {
        const e = error as { code?: string; message?: string };
        if (e.code && typeof e.message === 'string')
          return { code: e.code, inflate: e.message.includes('cannot be inflated') };
        return { thrown: String(error) };
      }
    },
    { base64: Buffer.from(bytes).toString('base64'), jwks: data.publisherJwks },
  );
}

describe('reader parity between Chromium and Node', () => {
  it.each([
    ['exports', 'export'],
    ['order evidence bundles', 'order-evidence'],
  ] as const)(
    `${CASES} mutated %s: the same outcome in the browser as with the CLI`,
    async (_, kind) => {
      const files = kind === 'export' ? await exportFiles(data) : await evidenceFiles(data);
      const original = zip(await seal(data, files, kind));
      const intact = await inChromium(original);
      expect(intact).toMatchObject({ result: { ok: true, kind } });
      const int = prng(SEED + (kind === 'export' ? 0 : 1));
      const differ: string[] = [];
      let refused = 0;
      let inflateRefused = 0;
      for (let n = 1; n <= CASES; n++) {
        const { bytes, what } = mutate(original, int);
        const path = join(dir, `${kind}-${n}.zip`);
        await writeFile(path, bytes);
        const node = await inNode(path);
        const chromium = await inChromium(bytes);
        if ('code' in node) refused++;
        if ('inflate' in node && node.inflate) inflateRefused++;
        try {
          expect(chromium).toEqual(node);
        } catch {
          differ.push(
            `#${n} ${what}: ${JSON.stringify(node).slice(0, 120)} vs ${JSON.stringify(chromium).slice(0, 120)}`,
          );
        }
      }
      expect(differ).toEqual([]);
      // Mutations the readers refuse, some of them inside deflated data, were among the cases.
      expect(refused).toBeGreaterThan(CASES / 10);
      expect(inflateRefused).toBeGreaterThan(0);
    },
    300_000,
  );
});

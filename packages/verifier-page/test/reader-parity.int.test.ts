/**
 * The browser's verdict is the CLI's, down to the zip reader: mutated exports and order
 * evidence bundles verified by the verifier's browser build in Chromium (the portable reader,
 * the browser's zlib through DecompressionStream) end as they end in Node through yauzl over
 * the file (Node's zlib): the same report, or a BundleError with the same code. Replay with
 * PARITY_SEED.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launchBrowser, type TestBrowser } from '@quittance/test-tooling';
import { parsePemCertificates } from '@quittance/tsp';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleError, parsePublisherKeys, verifyBundle } from '../../verifier/src';
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
async function inNode(
  path: string,
  publisher = data.publisher,
  anchors: Uint8Array[] = [],
): Promise<Outcome> {
  try {
    const result = await verifyBundle(path, {
      publisher,
      keepReceipts: true,
      ...(anchors.length ? { tsaTrustAnchors: anchors } : {}),
    });
    return { result: JSON.parse(JSON.stringify(result)) };
  } catch (error) {
    if (error instanceof BundleError)
      return { code: error.code, inflate: error.message.includes('cannot be inflated') };
    return { thrown: String(error) };
  }
}

/** In Chromium, from a Blob: the portable reader. */
function inChromium(
  bytes: Uint8Array,
  publisherJwks: unknown = data.publisherJwks,
  anchors: Uint8Array[] = [],
): Promise<Outcome> {
  return page.evaluate(
    async ({ base64, jwks, anchorsBase64 }) => {
      const v = (globalThis as unknown as { quittanceVerifier: any }).quittanceVerifier;
      const bytesOf = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const zipped = bytesOf(base64);
      try {
        const result = await v.verifyBundle(new Blob([zipped]), {
          publisher: v.parsePublisherKeys(jwks),
          keepReceipts: true,
          ...(anchorsBase64.length ? { tsaTrustAnchors: anchorsBase64.map(bytesOf) } : {}),
        });
        return { result: JSON.parse(JSON.stringify(result)) };
      } catch (error) {
        const e = error as { code?: string; message?: string };
        if (e.code && typeof e.message === 'string')
          return { code: e.code, inflate: e.message.includes('cannot be inflated') };
        return { thrown: String(error) };
      }
    },
    {
      base64: Buffer.from(bytes).toString('base64'),
      jwks: publisherJwks,
      anchorsBase64: anchors.map((a) => Buffer.from(a).toString('base64')),
    },
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

/**
 * Bundles made without our code (test/fixtures/external-bundles): STORED entries, data
 * descriptors, zip64 headers, shuffled entries, real RFC 3161 tokens. The page reads zips
 * with its own reader, so it gets the same outcome as Node for each, with the same keys.
 */
describe('bundles made from the SPEC by another implementation', () => {
  it('each has the same outcome in Chromium as in Node', async () => {
    const out = resolve(import.meta.dirname, '../../../test/fixtures/external-bundles/out');
    const expected: Record<string, { args: string[] }> = JSON.parse(
      await readFile(join(out, 'expect.json'), 'utf8'),
    );
    const differ: string[] = [];
    for (const [name, { args }] of Object.entries(expected)) {
      const flag = (f: string) => (args.includes(f) ? args[args.indexOf(f) + 1] : undefined);
      const jwks = JSON.parse(
        await readFile(join(out, flag('--publisher') ?? 'publisher.json'), 'utf8'),
      );
      const trust = flag('--tsa-trust');
      const anchors = trust ? parsePemCertificates(await readFile(join(out, trust), 'utf8')) : [];
      const path = join(out, name.split('#')[0] as string);
      const node = await inNode(path, parsePublisherKeys(jwks), anchors);
      const chromium = await inChromium(await readFile(path), jwks, anchors);
      // A crash on both sides would compare equal: it is a failure of its own.
      if ('thrown' in node) differ.push(`${name}: ${node.thrown}`);
      else if (JSON.stringify(chromium) !== JSON.stringify(node))
        differ.push(
          `${name}: ${JSON.stringify(node).slice(0, 160)} vs ${JSON.stringify(chromium).slice(0, 160)}`,
        );
    }
    expect(differ).toEqual([]);
    expect(Object.keys(expected).length).toBeGreaterThan(40);
  }, 120_000);
});

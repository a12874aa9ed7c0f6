/**
 * The verifier must not need Node (issue 11): `node:` modules and yauzl only under src/node/,
 * reached through `#platform` and `#ed25519`. The proof is a browser build of the package: it
 * bundles without any Node module, and it verifies a bundle (WebCrypto, @noble/hashes,
 * DecompressionStream)
 * with exactly the verdict of the Node build.
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { verifyBundle } from '../src';
import { exportFiles, makeData, seal, zip } from './bundle/make-bundle';

const src = resolve(import.meta.dirname, '../src');

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (/\.(ts|mjs)$/.test(entry.name)) out.push(path);
  }
  return out;
}

describe('the verifier runs without Node', () => {
  it('imports node: modules and yauzl only under src/node/', async () => {
    const offenders: string[] = [];
    for (const file of await sources(src)) {
      const where = relative(src, file);
      if (where.startsWith('node/')) continue;
      const text = await readFile(file, 'utf8');
      if (/from ['"](node:|yauzl)|import\(['"]node:/.test(text)) offenders.push(where);
    }
    expect(offenders).toEqual([]);
  });

  it('a browser build bundles no Node module and verifies as the Node build does', async () => {
    const result = await build({
      entryPoints: [join(src, 'index.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((i) => /(^|\/)(yauzl|src\/node)\/|^node:/.test(i))).toEqual([]);
    expect(inputs.some((i) => i.endsWith('src/web/platform.ts'))).toBe(true);
    const code = result.outputFiles[0]?.text as string;
    expect(code).not.toMatch(/from\s*["']node:/);

    const path = join(tmpdir(), `quittance-verifier-browser-${process.pid}.mjs`);
    await writeFile(path, code);
    try {
      const browser = await import(pathToFileURL(path).href);
      const data = await makeData(4);
      const bytes = zip(await seal(data, await exportFiles(data), 'export'));
      const options = { publisher: data.publisher, keepReceipts: true };
      const inBrowser = await browser.verifyBundle(new Blob([bytes]), options);
      expect(inBrowser.ok).toBe(true);
      expect(inBrowser).toEqual(await verifyBundle(new Blob([bytes]), options));
      const tampered = bytes.slice();
      tampered[100] = (tampered[100] as number) ^ 1;
      const [a, b] = await Promise.allSettled([
        browser.verifyBundle(tampered, options),
        verifyBundle(tampered, options),
      ]);
      expect(a.status).toBe(b.status);
      if (a.status === 'fulfilled' && b.status === 'fulfilled') expect(a.value).toEqual(b.value);
      else
        expect((a as PromiseRejectedResult).reason.code).toBe(
          (b as PromiseRejectedResult).reason.code,
        );
      // A path needs Node: the browser build says so instead of failing somewhere else.
      await expect(browser.verifyBundle('/tmp/x.zip', options)).rejects.toMatchObject({
        code: 'unreadable',
        message: expect.stringContaining('only under Node'),
      });
    } finally {
      await rm(path, { force: true });
    }
  });
});

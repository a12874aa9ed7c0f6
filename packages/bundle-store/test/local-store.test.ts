import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleKey, LocalBundleStore } from '../src';
import { describeBundleStore } from './contract';
import { put } from './helpers';

/** Hidden temporary files anywhere under the folder. */
async function partialFiles(root: string): Promise<number> {
  const entries = await readdir(root, { recursive: true }).catch(() => [] as string[]);
  return entries.filter((path) => /(^|\/)\.[^/]+\.partial$/.test(path)).length;
}

describeBundleStore('LocalBundleStore', async () => {
  const root = await mkdtemp(join(tmpdir(), 'quittance-bundles-'));
  return {
    store: new LocalBundleStore(join(root, 'exports')),
    leftovers: () => partialFiles(root),
    close: () => rm(root, { recursive: true, force: true }),
  };
});

describe('LocalBundleStore files', () => {
  it('keeps bundles as files under the key path, readable by the owner only', async () => {
    const root = await mkdtemp(join(tmpdir(), 'quittance-bundles-'));
    try {
      const store = new LocalBundleStore(root);
      const key = bundleKey({ jurisdiction: 'EU', merchantId: 'demo', exportId: 'exp_1' });
      await put(store, key, Buffer.from('zip'));
      const file = await stat(join(root, 'EU', 'demo', 'exp_1.zip'));
      expect(file.mode & 0o777).toBe(0o600);
      expect(store.location).toBe(`file://${root}`);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('bundleKey', () => {
  it('puts the jurisdiction first and keeps merchant ids that look like paths inside', () => {
    expect(bundleKey({ jurisdiction: 'US', merchantId: 'acme', exportId: 'exp_01J' })).toBe(
      'US/acme/exp_01J.zip',
    );
    expect(bundleKey({ jurisdiction: 'EU', merchantId: '..', exportId: 'exp_1' })).toBe(
      'EU/%2E./exp_1.zip',
    );
    expect(bundleKey({ jurisdiction: 'BR', merchantId: 'shop:one~x', exportId: 'e' })).toBe(
      'BR/shop%3Aone~x/e.zip',
    );
  });
});

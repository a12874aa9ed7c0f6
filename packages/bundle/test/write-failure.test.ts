/**
 * An output that fails before anything is written: the bundle's promise rejects with the
 * stream's error instead of waiting forever. Its own file, so that archiver is loaded here
 * for the first time, while the output's error is on its way (the writer awaits that load):
 * that test comes first. Then sources that fail midway.
 */
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type BundleSource, writeBundle } from '../src/index';

const empty: BundleSource = {
  async *chainEntries() {},
  async *receipts() {},
  async *checkpoints() {},
  async snapshots() {
    return [];
  },
  async *bodies() {},
  async log() {
    return { size: 0, frontier: [] };
  },
};

const header = (includeBodies: boolean) => ({
  bundleId: 'exp_fails',
  merchantId: 'acme',
  jurisdiction: 'EU' as const,
  range: {
    from: '2026-01-01T00:00:00.000Z',
    to: '2026-02-01T00:00:00.000Z',
    orderId: null,
    firstSeq: 1,
    lastSeq: 0,
  },
  createdAt: '2026-02-01T00:00:00.000Z',
  includeBodies,
});

describe('writeBundle on an output that fails at once', () => {
  it('rejects with the output stream’s error', async () => {
    const out = createWriteStream(join(tmpdir(), `no-such-folder-${process.pid}`, 'bundle.zip'));
    const written = writeBundle(out, header(false), empty, async () => 'header..signature');
    await expect(written).rejects.toMatchObject({ code: 'ENOENT' });
  }, 10_000);
});

describe('writeBundle on a source that fails midway (the database closed by a shutdown)', () => {
  // Found by the soak: SIGTERM during a long export with bodies crashed the process with an
  // unhandled 'error' event of the file's stream, instead of failing the build.
  it.each(['chainEntries', 'bodies'] as const)(
    'a %s stream that throws rejects the bundle with its error, and nothing is left unhandled',
    async (failing) => {
      const closed = new Error('CONNECTION_ENDED');
      async function* throwsAfterOne() {
        yield { receiptId: 'r1', bodies: null };
        throw closed;
      }
      const source: BundleSource = {
        ...empty,
        [failing]: throwsAfterOne as never,
      };
      const out = new PassThrough();
      out.resume();
      const written = writeBundle(out, header(true), source, async () => 'header..signature');
      await expect(written).rejects.toBe(closed);
      // An 'error' event nobody handles would fail this file after the test.
      await new Promise((resolve) => setTimeout(resolve, 50));
    },
  );
});

/**
 * The two zip readers behind ZipReader: yauzl over a file (Node, the CLI) and the portable one
 * over a Blob or bytes (a browser). Each case runs through both and must end the same way:
 * the same entries and bytes, the same duplicates and header disagreements, or a BundleError
 * with the same code. The caps hold as bytes stream, so a bomb never fills memory.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { utf8 } from '@quittance/format';
import { rawZip, zeroBomb } from '@quittance/test-tooling';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleError } from '../../src/bundle/errors';
import { type BundleLimits, DEFAULT_LIMITS } from '../../src/bundle/limits';
import { YauzlZipReader } from '../../src/node/yauzl-zip';
import { byteSourceOf, PortableZipReader } from '../../src/zip/portable-zip';
import type { ZipReader } from '../../src/zip/zip-reader';

let dir: string;
let serial = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'quittance-zip-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

type Outcome =
  | { ok: true; entries: Record<string, string>; duplicates: string[]; disagreements: string[] }
  | { ok: false; code: string; message: string };

async function readAll(zip: ZipReader): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of zip.entries.keys()) {
    const parts: Uint8Array[] = [];
    for await (const chunk of zip.chunks(name)) parts.push(chunk);
    out[name] = Buffer.concat(parts).toString('latin1');
  }
  return out;
}

async function outcome(open: () => Promise<ZipReader>): Promise<Outcome> {
  let zip: ZipReader | undefined;
  try {
    zip = await open();
    return {
      ok: true,
      entries: await readAll(zip),
      duplicates: [...zip.duplicates],
      disagreements: [...zip.disagreements],
    };
  } catch (error) {
    if (!(error instanceof BundleError)) throw error;
    return { ok: false, code: error.code, message: error.message };
  } finally {
    zip?.close();
  }
}

/** Both readers over the same bytes; their outcomes, which the test compares. */
async function both(given: Uint8Array, limits: Partial<BundleLimits> = {}) {
  const caps = { ...DEFAULT_LIMITS, ...limits };
  const bytes = new Uint8Array(given);
  const path = join(dir, `case-${++serial}.zip`);
  await writeFile(path, bytes);
  const node = await outcome(() => YauzlZipReader.open(path, caps));
  const portable = await outcome(() => PortableZipReader.open(bytes, path, caps));
  const blob = await outcome(() => PortableZipReader.open(new Blob([bytes]), path, caps));
  expect(blob).toEqual(portable);
  return { node, portable };
}

/** Equal outcomes when both read the zip; the same error code when both refuse it. */
function expectSameEnd(node: Outcome, portable: Outcome) {
  if (node.ok) expect(portable).toEqual(node);
  else expect(portable).toMatchObject({ ok: false, code: node.code });
}

/**
 * `bytes` (a zip from rawZip) ending in a ZIP64 end of central directory record and locator,
 * which give the offsets of the central directory and of the record (by default the real ones).
 */
function zip64(bytes: Uint8Array, offsets: { directory?: bigint; record?: bigint } = {}) {
  const data = Buffer.from(bytes);
  const end = data.length - 22;
  const record = Buffer.alloc(56);
  record.writeUInt32LE(0x06064b50, 0);
  record.writeBigUInt64LE(44n, 4);
  record.writeUInt16LE(45, 12);
  record.writeUInt16LE(45, 14);
  record.writeBigUInt64LE(BigInt(data.readUInt16LE(end + 8)), 24);
  record.writeBigUInt64LE(BigInt(data.readUInt16LE(end + 10)), 32);
  record.writeBigUInt64LE(BigInt(data.readUInt32LE(end + 12)), 40);
  record.writeBigUInt64LE(offsets.directory ?? BigInt(data.readUInt32LE(end + 16)), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(offsets.record ?? BigInt(end), 8);
  locator.writeUInt32LE(1, 16);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(0xffff, 8);
  eocd.writeUInt16LE(0xffff, 10);
  eocd.writeUInt32LE(0xffffffff, 12);
  eocd.writeUInt32LE(0xffffffff, 16);
  return new Uint8Array(Buffer.concat([data.subarray(0, end), record, locator, eocd]));
}

describe('both readers read the same zips the same way', () => {
  it('a zip made by another library: names, bytes, nothing else', async () => {
    const bytes = zipSync(
      { 'a.txt': utf8('hello\n'), 'dir/b.json': utf8('{"x":1}'), 'empty.txt': new Uint8Array(0) },
      { level: 6 },
    );
    const { node, portable } = await both(bytes);
    expect(node).toEqual({
      ok: true,
      entries: { 'a.txt': 'hello\n', 'dir/b.json': '{"x":1}', 'empty.txt': '' },
      duplicates: [],
      disagreements: [],
    });
    expect(portable).toEqual(node);
  });

  it('stored and deflated entries, a large one streamed in many chunks', async () => {
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7919) % 251);
    const { node, portable } = await both(
      rawZip([
        { name: 'stored.bin', data: utf8('as is'), method: 0 },
        { name: 'big.bin', data: big },
      ]),
    );
    expect(node.ok && node.entries['big.bin']?.length).toBe(big.length);
    expect(portable).toEqual(node);
  });

  it('a name twice, and a local header that names another file', async () => {
    const { node, portable } = await both(
      rawZip([
        { name: 'a.txt', data: utf8('first') },
        { name: 'a.txt', data: utf8('second') },
        { name: 'b.txt', data: utf8('b'), localName: 'B.txt' },
      ]),
    );
    expect(node).toMatchObject({
      ok: true,
      duplicates: ['a.txt'],
      disagreements: ['b.txt: its local header says name "B.txt"'],
    });
    expect(portable).toEqual(node);
  });

  it('a 65,000-byte local name that differs in its last byte: the same disagreement, cut short', async () => {
    // The page's reader once spread the whole name into String.fromCharCode: a stack overflow.
    const name = 'n'.repeat(64_999);
    const { node, portable } = await both(
      rawZip([{ name: `${name}a`, data: utf8('x'), localName: `${name}b` }]),
    );
    expect(node).toMatchObject({
      ok: true,
      disagreements: [`${name}a: its local header says name "${'n'.repeat(200)}"`],
    });
    expect(portable).toEqual(node);
  });

  it('names zip tools refuse: absolute, parent, CP437 when not flagged UTF-8', async () => {
    for (const name of ['/etc/passwd', 'a/../../b', 'C:evil']) {
      const { node, portable } = await both(rawZip([{ name, data: utf8('x') }]));
      expect(node).toMatchObject({ ok: false, code: 'unreadable' });
      expectSameEnd(node, portable);
    }
    const cp437 = await both(rawZip([{ name: 'caf\u00e9.txt', data: utf8('x'), flags: 0 }]));
    expect(cp437.node.ok).toBe(true);
    expect(cp437.portable).toEqual(cp437.node);
  });
});

describe('zips that cannot be read: both readers refuse, with the same code', () => {
  it('a ZIP64 end of central directory: read through it', async () => {
    const { node, portable } = await both(zip64(rawZip([{ name: 'a.txt', data: utf8('hello') }])));
    expect(node).toMatchObject({ ok: true, entries: { 'a.txt': 'hello' } });
    expect(portable).toEqual(node);
  });

  it('ZIP64 offsets past the end of the file, up to 2^62: unexpected EOF, no crash', async () => {
    // Past 2^53 yauzl's own reader handed the offset to fs.read, which threw in a callback.
    const zip = rawZip([{ name: 'a.txt', data: utf8('hello') }]);
    const cases = [
      { directory: 2n ** 62n },
      { directory: 2n ** 53n + 2n },
      { directory: BigInt(zip.length + 100) },
      { record: 2n ** 62n },
      { record: BigInt(zip.length + 100) },
    ];
    for (const offsets of cases) {
      const { node, portable } = await both(zip64(zip, offsets));
      expect(node).toMatchObject({
        ok: false,
        code: 'unreadable',
        message: expect.stringMatching(/not a readable zip: unexpected EOF$/),
      });
      expect(portable).toEqual(node);
    }
  });

  it('not a zip, empty, truncated, a bad central directory, an unknown method', async () => {
    const good = zipSync({ 'a.txt': utf8('hello hello hello hello') });
    const badCentral = good.slice();
    const at = good.length - 22 - 46 - 5; // inside the central directory record
    badCentral[at] = (good[at] as number) ^ 0xff;
    const cases = [
      utf8('hello\n'),
      new Uint8Array(0),
      good.subarray(0, good.length - 10),
      good.subarray(10),
      badCentral,
      rawZip([{ name: 'x.bin', data: utf8('x'), method: 12 }]),
      rawZip([{ name: 'x.bin', data: utf8('x'), flags: 0x0801 }]), // encrypted
    ];
    for (const bytes of cases) {
      const { node, portable } = await both(bytes);
      expect(node.ok).toBe(false);
      expectSameEnd(node, portable);
    }
  });

  it('a corrupt deflate stream, and one that inflates short of its declared size', async () => {
    const garbage = await both(
      rawZip([{ name: 'r.jsonl', data: utf8('this is not deflate at all'), raw: true }]),
    );
    expect(garbage.node).toMatchObject({ ok: false, code: 'unreadable' });
    expectSameEnd(garbage.node, garbage.portable);
    const short = await both(rawZip([{ name: 'r.jsonl', data: utf8('12345'), declared: 50 }]));
    expect(short.node).toMatchObject({ ok: false, code: 'unreadable' });
    expect(short.portable).toMatchObject({
      ok: false,
      code: 'unreadable',
      message: expect.stringContaining('not enough bytes in the stream. expected 50. got only 5'),
    });
  });
});

describe('caps: a zip bomb is refused as it inflates, memory stays flat', () => {
  it('an entry that declares 2 GiB is refused before anything is inflated', async () => {
    const { node, portable } = await both(
      rawZip([{ name: 'receipts.jsonl', data: zeroBomb(1), declared: 2 ** 31, raw: true }]),
    );
    for (const result of [node, portable])
      expect(result).toMatchObject({
        ok: false,
        code: 'too_large',
        message: expect.stringContaining('entry receipts.jsonl declares 2 GiB'),
      });
  });

  it('2 MB that inflates to 2 GiB while declaring 1 MB: stopped at the declared size', async () => {
    const bytes = rawZip([
      { name: 'receipts.jsonl', data: zeroBomb(2048), declared: 1_000_000, raw: true },
    ]);
    expect(bytes.length).toBeLessThan(3_000_000);
    const before = process.memoryUsage().rss;
    const zip = await PortableZipReader.open(new Blob([bytes]), 'bomb.zip', DEFAULT_LIMITS);
    let seen = 0;
    const error = await (async () => {
      for await (const chunk of zip.chunks('receipts.jsonl')) seen += chunk.length;
    })().catch((e) => e);
    expect(error).toBeInstanceOf(BundleError);
    expect(error).toMatchObject({ code: 'unreadable' });
    expect(error.message).toMatch(/receipts.jsonl cannot be inflated: too many bytes/);
    expect(seen).toBeLessThanOrEqual(1_000_000);
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
    const { node } = await both(bytes);
    expect(node).toMatchObject({ ok: false, message: expect.stringMatching(/too many bytes/) });
  });

  it('a bomb refused while another entry streams: the other is read, nothing throws later', async () => {
    // yauzl's fd reader queued the bomb's next read behind the other entry's; destroyed, its
    // stream left that read to crash the process (the CLI on such a bundle, every run).
    const path = join(dir, `case-${++serial}.zip`);
    await writeFile(
      path,
      rawZip([
        { name: 'receipts.jsonl', data: zeroBomb(64), declared: 100, raw: true },
        { name: 'chain.jsonl', data: utf8('{"seq":1}\n'.repeat(60)) },
      ]),
    );
    const uncaught: unknown[] = [];
    const record = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', record);
    try {
      const zip = await YauzlZipReader.open(path, DEFAULT_LIMITS);
      const read = async (name: string) => {
        let bytes = 0;
        for await (const chunk of zip.chunks(name)) bytes += chunk.length;
        return bytes;
      };
      const [bomb, chain] = await Promise.allSettled([read('receipts.jsonl'), read('chain.jsonl')]);
      zip.close();
      expect(bomb).toMatchObject({
        status: 'rejected',
        reason: { code: 'unreadable', message: expect.stringMatching(/too many bytes/) },
      });
      expect(chain).toEqual({ status: 'fulfilled', value: 600 });
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      process.off('uncaughtException', record);
    }
    expect(uncaught).toEqual([]);
  });

  it('an honest bomb under the per-entry cap but over the total: too_large', async () => {
    const mib = 1024 * 1024;
    const bytes = rawZip([
      { name: 'receipts.jsonl', data: zeroBomb(64), declared: 64 * mib, raw: true },
    ]);
    const { node, portable } = await both(bytes, {
      maxEntryBytes: 64 * mib,
      maxTotalBytes: 16 * mib,
    });
    for (const result of [node, portable])
      expect(result).toMatchObject({
        ok: false,
        code: 'too_large',
        message: expect.stringContaining('the entries declare more than 16 MiB in all'),
      });
  });

  it('more entries than the cap', async () => {
    const files = Object.fromEntries(
      Array.from({ length: 12 }, (_, i) => [`f${i}.txt`, utf8(`${i}`)]),
    );
    const { node, portable } = await both(zipSync(files), { maxEntries: 10 });
    expect(node).toMatchObject({ ok: false, code: 'too_large' });
    expect(portable).toMatchObject({
      ok: false,
      code: 'too_large',
      message: expect.stringContaining('declares 12 entries; the limit is 10'),
    });
  });
});

describe('byte sources', () => {
  it('a Blob is read in slices, never whole', async () => {
    const bytes = zipSync({ 'a.txt': utf8('a'.repeat(10_000)) });
    const reads: number[] = [];
    const source = byteSourceOf(new Blob([bytes]));
    const zip = await PortableZipReader.open(
      {
        size: source.size,
        read: (at, length) => {
          reads.push(length);
          return source.read(at, length);
        },
      },
      'spy.zip',
      DEFAULT_LIMITS,
    );
    expect((await readAll(zip))['a.txt']).toHaveLength(10_000);
    expect(Math.max(...reads)).toBeLessThanOrEqual(1024 * 1024);
  });
});

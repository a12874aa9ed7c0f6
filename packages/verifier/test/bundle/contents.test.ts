import { sha256Hex, utf8 } from '@quittance/format';
import { describe, expect, it } from 'vitest';
import { BundleContents, type Line } from '../../src/bundle/contents';
import { DEFAULT_LIMITS } from '../../src/bundle/limits';
import { PortableZipReader } from '../../src/zip/portable-zip';
import { contentsOf, zip } from './make-bundle';

async function collect(lines: AsyncIterable<Line>) {
  const out: Line[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

describe('BundleContents: what every step reads through', () => {
  it('lines: numbered from 1, blank and CR-only lines skipped, CRLF kept for JSON to ignore', async () => {
    const contents = await contentsOf({ 'a.jsonl': '{"a":1}\n\n{"b":2}\r\n\r\n{"c":3}' });
    expect(await collect(contents.lines('a.jsonl', 100))).toEqual([
      { n: 1, text: '{"a":1}' },
      { n: 3, text: '{"b":2}\r' },
      { n: 5, text: '{"c":3}' },
    ]);
    expect(await collect(contents.lines('absent.jsonl', 100))).toEqual([]);
  });

  it('past 10,000 blank lines, one problem and the rest of the file unread', async () => {
    const contents = await contentsOf({ 'a.jsonl': `{"a":1}\n${'\n'.repeat(20_000)}{"b":2}\n` });
    expect(await collect(contents.lines('a.jsonl', 100))).toEqual([
      { n: 1, text: '{"a":1}' },
      {
        n: 10_002,
        problem: 'is blank, past 10,000 blank lines; the rest of the file was not read',
      },
    ]);
    // Not read to its end, so not hashed: files_intact hashes it on its own.
    expect(contents.read.has('a.jsonl')).toBe(false);
  });

  it('a line over the cap is reported, not buffered; one that is not UTF-8 too', async () => {
    const bytes = new Uint8Array([
      ...utf8('ok\n'),
      0xff,
      0xfe,
      0x0a,
      ...utf8(`${'x'.repeat(50)}\nend\n`),
    ]);
    const contents = await contentsOf({ 'a.jsonl': bytes });
    expect(await collect(contents.lines('a.jsonl', 20))).toEqual([
      { n: 1, text: 'ok' },
      { n: 2, problem: 'is not UTF-8' },
      { n: 3, problem: 'is longer than 20 bytes' },
      { n: 4, text: 'end' },
    ]);
  });

  it('a line longer than a read chunk is put together; hashes are of the raw bytes', async () => {
    const long = `${'y'.repeat(3 * 1024 * 1024)}\n`;
    const contents = await contentsOf({ 'a.jsonl': `a\n${long}b` });
    const lines = await collect(contents.lines('a.jsonl', 4 * 1024 * 1024));
    expect(lines.map((l) => l.n)).toEqual([1, 2, 3]);
    expect((lines[1] as { text: string }).text).toHaveLength(3 * 1024 * 1024);
    expect(contents.read.get('a.jsonl')).toEqual({
      bytes: 2 + long.length + 1,
      sha256: await sha256Hex(utf8(`a\n${long}b`)),
    });
  });

  it('whole files: kept up to their cap, always hashed to the end; a BOM is kept', async () => {
    const contents = await contentsOf({ 'big.json': 'z'.repeat(100), 'bom.json': '\ufeff{}' });
    expect(await contents.text('big.json', 99)).toBeUndefined();
    expect(contents.read.get('big.json')?.bytes).toBe(100);
    expect(await contents.text('bom.json', 99)).toBe('\ufeff{}');
  });

  it('readTheRest hashes what no step read, except the names given', async () => {
    const contents = await contentsOf({ 'a.txt': 'a', 'b.txt': 'bb', 'manifest.json': '{}' });
    await contents.text('a.txt', 10);
    await contents.readTheRest(['manifest.json']);
    expect([...contents.read.keys()].sort()).toEqual(['a.txt', 'b.txt']);
    expect(contents.read.get('b.txt')).toEqual({ bytes: 2, sha256: await sha256Hex(utf8('bb')) });
  });

  it('a cancelled read stops with the signal’s reason', async () => {
    const controller = new AbortController();
    const contents = new BundleContents(
      await PortableZipReader.open(zip({ 'a.txt': 'abc' }), 't.zip', DEFAULT_LIMITS),
      controller.signal,
    );
    controller.abort(new Error('stop'));
    await expect(contents.text('a.txt', 10)).rejects.toThrow('stop');
  });
});

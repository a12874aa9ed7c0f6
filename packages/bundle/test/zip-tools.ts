/**
 * Zip surgery for tests: the real zip structures (PKWARE APPNOTE 4.3), read and patched by
 * offset, and a real archiver to write entries back. No mocks: every zip here is a file
 * that other zip tools would open (or refuse) the same way.
 */
import { createWriteStream } from 'node:fs';
import { rawZip, zeroBomb } from '@quittance/test-tooling';
import { ZipArchive } from 'archiver';
import yauzl from 'yauzl';

export interface CentralRecord {
  name: string;
  /** Offset of this central directory record in the zip. */
  central: number;
  /** Offset of the entry's local file header. */
  local: number;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  /** Offset of the entry's compressed data. */
  dataStart: number;
}

/** The central directory of a zip without ZIP64 and without a comment (what archiver writes). */
export function centralDirectory(zip: Buffer): { records: CentralRecord[]; eocd: number } {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error('no end of central directory record');
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  const records: CentralRecord[] = [];
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error('bad central directory record');
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const local = zip.readUInt32LE(at + 42);
    const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    records.push({
      name: zip.toString('utf8', at + 46, at + 46 + nameLength),
      central: at,
      local,
      method: zip.readUInt16LE(at + 10),
      compressedSize: zip.readUInt32LE(at + 20),
      uncompressedSize: zip.readUInt32LE(at + 24),
      dataStart,
    });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return { records, eocd };
}

/** Offsets of the size fields, for patching. */
export const FIELD = {
  central: { compressedSize: 20, uncompressedSize: 24 },
  local: { compressedSize: 18, uncompressedSize: 22 },
} as const;

/** Every entry of a zip in central directory order, duplicates included (null: unreadable). */
export function extractAll(path: string): Promise<[string, Buffer][] | null> {
  return new Promise((resolve) => {
    yauzl.open(path, { lazyEntries: true, validateEntrySizes: true }, (error, zip) => {
      if (error || !zip) return resolve(null);
      const out: [string, Buffer][] = [];
      zip.on('error', () => resolve(null));
      zip.on('end', () => resolve(out));
      zip.on('entry', (entry: yauzl.Entry) => {
        if (entry.uncompressedSize > 64 * 1024 * 1024) return resolve(null);
        zip.openReadStream(entry, (err, stream) => {
          if (err || !stream) return resolve(null);
          const parts: Buffer[] = [];
          stream.on('data', (c: Buffer) => parts.push(c));
          stream.on('error', () => resolve(null));
          stream.on('end', () => {
            out.push([entry.fileName, Buffer.concat(parts)]);
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

/** Writes entries into a zip with archiver (the writer's own library), in the order given. */
export async function zipEntries(path: string, entries: Iterable<[string, Buffer]>): Promise<void> {
  const zip = new ZipArchive({ zlib: { level: 1 } });
  const out = createWriteStream(path);
  const closed = new Promise<void>((resolve, reject) => {
    out.on('close', resolve);
    zip.on('error', reject);
  });
  zip.pipe(out);
  for (const [name, data] of entries) zip.append(data, { name });
  await zip.finalize();
  await closed;
}

/**
 * A one-entry zip whose headers can say anything: `data` is the raw deflate stream,
 * `declared` the uncompressed size both headers claim.
 */
export const handMadeZip = (name: string, data: Uint8Array, declared: number): Buffer =>
  Buffer.from(rawZip([{ name, data, raw: true, declared }]));

export { zeroBomb };

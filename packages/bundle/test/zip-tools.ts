/**
 * Zip surgery for tests: the real zip structures (PKWARE APPNOTE 4.3), read and patched by
 * offset, and a real archiver to write entries back. No mocks: every zip here is a file
 * that other zip tools would open (or refuse) the same way.
 */
import { createWriteStream } from 'node:fs';
import { deflateRawSync, constants as zlib } from 'node:zlib';
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
 * A one-entry zip written by hand, so that its header can say anything: `data` is the raw
 * deflate stream, `declared` the uncompressed size both headers claim.
 */
export function handMadeZip(name: string, data: Buffer, declared: number): Buffer {
  const fileName = Buffer.from(name, 'utf8');
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(0x0800, 6); // UTF-8 names
  local.writeUInt16LE(8, 8); // deflate
  local.writeUInt32LE(0, 14); // CRC-32: yauzl does not check it; nothing here relies on it
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(declared, 22);
  local.writeUInt16LE(fileName.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(0x0800, 8);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(declared, 24);
  central.writeUInt16LE(fileName.length, 28);
  central.writeUInt32LE(0, 42);
  const centralStart = local.length + fileName.length + data.length;
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(1, 8);
  eocd.writeUInt16LE(1, 10);
  eocd.writeUInt32LE(central.length + fileName.length, 12);
  eocd.writeUInt32LE(centralStart, 16);
  return Buffer.concat([local, fileName, data, central, fileName, eocd]);
}

/**
 * A raw deflate stream of `mib` MiB of zeros, made without inflating anything: after a full
 * flush the compressor starts afresh, so every further MiB compresses to the same bytes.
 * 2,048 MiB take about 2 MB.
 */
export function zeroBomb(mib: number): Buffer {
  const zeros = Buffer.alloc(1024 * 1024);
  const one = deflateRawSync(zeros, { level: 9, finishFlush: zlib.Z_FULL_FLUSH });
  const last = deflateRawSync(Buffer.alloc(0), { level: 9 });
  return Buffer.concat([...Array.from({ length: mib }, () => one), last]);
}

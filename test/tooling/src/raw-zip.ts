/**
 * Zips written byte by byte (PKWARE APPNOTE 4.3), so that a test can make a header say
 * anything: another name in the local header, a declared size that lies, an unknown method.
 */
import { deflateRawSync, constants as zlib } from 'node:zlib';

export interface RawEntry {
  name: string;
  data: Uint8Array;
  /** 0 stored, 8 deflate (default). */
  method?: number;
  /** The uncompressed size both headers declare (default: the real one). */
  declared?: number;
  /** The name the local header says (default: `name`). */
  localName?: string;
  /** General purpose flags (default: UTF-8 names). */
  flags?: number;
  /** `data` is already compressed (a deflate stream made elsewhere). */
  raw?: boolean;
}

export function rawZip(entries: RawEntry[]): Uint8Array<ArrayBuffer> {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const method = entry.method ?? 8;
    const data = Buffer.from(
      entry.raw || method !== 8 ? entry.data : deflateRawSync(Buffer.from(entry.data)),
    );
    const declared = entry.declared ?? entry.data.length;
    const flags = entry.flags ?? 0x0800;
    const name = Buffer.from(entry.name, 'utf8');
    const localName = Buffer.from(entry.localName ?? entry.name, 'utf8');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(declared, 22);
    local.writeUInt16LE(localName.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(declared, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, localName, data);
    centrals.push(central, name);
    offset += local.length + localName.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(directory.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...locals, directory, eocd]));
}

/**
 * A raw deflate stream of `mib` MiB of zeros, made without inflating anything: after a full
 * flush the compressor starts afresh, so every further MiB compresses to the same bytes.
 */
export function zeroBomb(mib: number): Uint8Array<ArrayBuffer> {
  const one = deflateRawSync(Buffer.alloc(1024 * 1024), {
    level: 9,
    finishFlush: zlib.Z_FULL_FLUSH,
  });
  const last = deflateRawSync(Buffer.alloc(0), { level: 9 });
  return new Uint8Array(Buffer.concat([...Array.from({ length: mib }, () => one), last]));
}

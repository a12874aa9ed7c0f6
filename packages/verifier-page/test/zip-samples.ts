/** Zips for the page's tests: tampered copies of real bundles, bombs and truncations. */
import { constants, deflateRawSync } from 'node:zlib';
import { unzipSync, zipSync } from 'fflate';

/** Every entry of a (small) zip, by name, in the zip's order. */
export const entriesOf = (zip: Uint8Array): [string, Uint8Array][] =>
  Object.entries(unzipSync(zip));

/** The zip again with one byte of one entry changed (its middle byte, low bit flipped). */
export function withOneByteChanged(zip: Uint8Array, name: string): Uint8Array {
  const entries = entriesOf(zip).map(([entry, data]): [string, Uint8Array] => {
    if (entry !== name) return [entry, data];
    const changed = new Uint8Array(data);
    const at = Math.floor(changed.length / 2);
    changed[at] = (changed[at] as number) ^ 0x01;
    return [entry, changed];
  });
  return zipSync(Object.fromEntries(entries), { level: 6 });
}

/**
 * A one-entry zip whose headers say `declared` bytes for a deflate stream of `mib` MiB of
 * zeros (about 1 KB per MiB): a bomb that declares its size, or one that lies about it.
 */
export function zeroBombZip(name: string, mib: number, declared: number): Uint8Array {
  const one = deflateRawSync(Buffer.alloc(1024 * 1024), {
    level: 9,
    finishFlush: constants.Z_FULL_FLUSH,
  });
  const last = deflateRawSync(Buffer.alloc(0), { level: 9 });
  const data = Buffer.concat([...Array.from({ length: mib }, () => one), last]);
  const fileName = Buffer.from(name, 'utf8');
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(0x0800, 6);
  local.writeUInt16LE(8, 8);
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
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(1, 8);
  eocd.writeUInt16LE(1, 10);
  eocd.writeUInt32LE(central.length + fileName.length, 12);
  eocd.writeUInt32LE(local.length + fileName.length + data.length, 16);
  return Buffer.concat([local, fileName, data, central, fileName, eocd]);
}

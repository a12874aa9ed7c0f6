/** Zips for the page's tests: tampered copies of real bundles, bombs and truncations. */
import { rawZip, zeroBomb } from '@quittance/test-tooling';
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
export const zeroBombZip = (name: string, mib: number, declared: number): Uint8Array =>
  rawZip([{ name, data: zeroBomb(mib), raw: true, declared }]);

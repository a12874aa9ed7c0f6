import { concatBytes, fromHex } from '@quittance/format';
import { childrenOf, encodingOf, type Tlv } from '../../src/der';

// Building DER by hand, to make the encodings no TSA writes: BER, overruns, deep nesting.

/** A DER length: short form below 128, else the minimal long form. */
export function derLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One element: identifier octet `tag`, a DER length, then the content. */
export function element(tag: number, content: Uint8Array): Uint8Array {
  return concatBytes([Uint8Array.of(tag), derLength(content.length), content]);
}

/** Bytes from hex, spaces allowed: `hex('30 03 02 01 05')`. */
export function hex(text: string): Uint8Array {
  return fromHex(text.replace(/\s+/g, ''));
}

/**
 * Re-encodes `tlv` with every element for which `replace` answers replaced by that answer, and
 * the lengths of the elements around it re-encoded from the inside out.
 */
export function rebuild(tlv: Tlv, replace: (tlv: Tlv) => Uint8Array | undefined): Uint8Array {
  const replaced = replace(tlv);
  if (replaced) return replaced;
  if (!tlv.constructed) return encodingOf(tlv);
  const content = concatBytes(childrenOf(tlv, 'rebuild').map((child) => rebuild(child, replace)));
  return element(tlv.bytes[tlv.start] as number, content);
}

import { toHex } from '@quittance/format';
import * as asn1js from 'asn1js';
import { TspError } from './errors';

export const OID = {
  signedData: '1.2.840.113549.1.7.2',
  tstInfo: '1.2.840.113549.1.9.16.1.4',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingCertificate: '1.2.840.113549.1.9.16.2.12',
  signingCertificateV2: '1.2.840.113549.1.9.16.2.47',
  extKeyUsage: '2.5.29.37',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
} as const;

const HASHES: Record<string, string> = {
  [OID.sha1]: 'SHA-1',
  [OID.sha256]: 'SHA-256',
  [OID.sha384]: 'SHA-384',
  [OID.sha512]: 'SHA-512',
};

/** The WebCrypto name of a digest algorithm OID, or undefined when we do not support it. */
export function hashName(oid: string): string | undefined {
  return HASHES[oid];
}

export async function digest(algorithm: string, bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(
    await globalThis.crypto.subtle.digest(algorithm, bytes as Uint8Array<ArrayBuffer>),
  );
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

/** A copy that owns its buffer, so callers never see (or keep alive) a larger parse buffer. */
export function copyBytes(view: Uint8Array | ArrayBuffer): Uint8Array {
  return new Uint8Array(view instanceof ArrayBuffer ? view.slice(0) : view.slice());
}

/**
 * Decodes one BER/DER element that must span the whole input: trailing bytes after a token
 * would otherwise be carried along unverified.
 */
export function parseAsn1(bytes: Uint8Array, what: string): asn1js.AsnType {
  const parsed = asn1js.fromBER(bytes);
  if (parsed.offset === -1 || parsed.result.error) {
    throw new TspError('malformed', `${what} is not valid DER: ${parsed.result.error}`);
  }
  if (parsed.offset !== bytes.length) {
    throw new TspError(
      'malformed',
      `${what} has ${bytes.length - parsed.offset} trailing bytes after the DER element`,
    );
  }
  return parsed.result;
}

/** Runs a pkijs constructor, turning its schema errors into `malformed`. */
export function fromSchema<T>(what: string, build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof TspError) throw error;
    const detail = error instanceof Error ? error.message : String(error);
    throw new TspError('malformed', `${what} does not match its ASN.1 schema: ${detail}`, {
      cause: error,
    });
  }
}

/** The hex of a DER INTEGER's content, without the sign-padding zero byte. */
export function integerHex(bytes: Uint8Array): string {
  const start = bytes.length > 1 && bytes[0] === 0 ? 1 : 0;
  return toHex(bytes.subarray(start));
}

/** The minimal two's complement encoding of a positive bigint, as DER INTEGER content. */
export function positiveIntegerBytes(value: bigint): Uint8Array {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  // A set top bit would read as negative: prefix a zero byte.
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

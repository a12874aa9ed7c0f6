import * as asn1js from 'asn1js';
import { Certificate } from 'pkijs';
import { copyBytes, digest, fromSchema, parseAsn1 } from './bytes';
import { LruCache } from './cache';
import { formatName } from './names';

/**
 * A certificate parsed once and shared by every verification that meets the same DER. Everything
 * here is a pure function of the DER bytes, so sharing it cannot carry a decision from one token
 * to another: each token still runs every check against these facts.
 */
export interface CertEntry {
  /** Never reused for other bytes, even after eviction: chain cache keys are built from it. */
  readonly id: number;
  /** The DER as a binary string: the cache key, and exact byte equality in one comparison. */
  readonly key: string;
  readonly der: Uint8Array;
  /** Parsed by pkijs; shared, so nothing may mutate it. */
  readonly cert: Certificate;
  readonly issuerDer: Uint8Array;
  readonly serial: Uint8Array;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly digests: Map<string, Promise<Uint8Array>>;
  readonly publicKeys: Map<string, Promise<CryptoKey>>;
  subject?: string;
  keyId?: Promise<Uint8Array>;
}

// Auditors check bundles signed by a handful of TSA certificates, plus their CAs; 128 leaves room
// for key rollovers across years without letting a hostile bundle grow memory without bound.
const certificates = new LruCache<string, CertEntry>(128);
let nextId = 1;

/**
 * The parsed certificate for `der`, from the cache when the same bytes were seen before.
 *
 * @throws TspError `malformed` when `der` is not a certificate (`what` names it).
 */
export function certificateEntry(der: Uint8Array, what: string): CertEntry {
  const key = binaryString(der);
  const cached = certificates.get(key);
  if (cached) return cached;
  const owned = copyBytes(der);
  const cert = fromSchema(what, () => new Certificate({ schema: parseAsn1(owned, what) }));
  const entry: CertEntry = {
    id: nextId++,
    key,
    der: owned,
    cert,
    issuerDer: new Uint8Array(cert.issuer.valueBeforeDecode),
    serial: new Uint8Array(cert.serialNumber.valueBlock.valueHexView),
    notBefore: cert.notBefore.value.getTime(),
    notAfter: cert.notAfter.value.getTime(),
    digests: new Map(),
    publicKeys: new Map(),
  };
  certificates.set(key, entry);
  return entry;
}

/** The `hash` (WebCrypto name) of the certificate's DER, as the ESS attribute names it. */
export function certificateDigest(entry: CertEntry, hash: string): Promise<Uint8Array> {
  let value = entry.digests.get(hash);
  if (!value) {
    value = digest(hash, entry.der);
    entry.digests.set(hash, value);
  }
  return value;
}

/** The subject as an RFC 4514 string. */
export function subjectName(entry: CertEntry): string {
  entry.subject ??= formatName(entry.cert.subject);
  return entry.subject;
}

/**
 * The key identifier a SignerInfo `subjectKeyIdentifier` names: the certificate's SKI extension,
 * or the RFC 5280 method 1 SHA-1 of the public key when it has none.
 */
export function subjectKeyId(entry: CertEntry): Promise<Uint8Array> {
  if (!entry.keyId) {
    const ski = entry.cert.extensions?.find((e) => e.extnID === '2.5.29.14')?.parsedValue;
    entry.keyId =
      ski instanceof asn1js.OctetString
        ? Promise.resolve(new Uint8Array(ski.valueBlock.valueHexView))
        : digest('SHA-1', entry.cert.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView);
  }
  return entry.keyId;
}

/** The certificate's public key imported for `algorithm`; importing costs as much as a verify. */
export function publicKey(
  entry: CertEntry,
  algorithm: EcKeyImportParams | RsaHashedImportParams,
): Promise<CryptoKey> {
  const name =
    'namedCurve' in algorithm
      ? `${algorithm.name}/${algorithm.namedCurve}`
      : `${algorithm.name}/${String(algorithm.hash)}`;
  let key = entry.publicKeys.get(name);
  if (!key) {
    const spki = new Uint8Array(entry.cert.subjectPublicKeyInfo.toSchema().toBER(false));
    key = globalThis.crypto.subtle.importKey('spki', spki, algorithm, false, ['verify']);
    // A key that does not import fails the same way next time, but do not keep the rejection.
    key.catch(() => entry.publicKeys.delete(name));
    entry.publicKeys.set(name, key);
  }
  return key;
}

/** Forgets every cached certificate (tests, or a caller that wants its memory back). */
export function clearCertificateCache(): void {
  certificates.clear();
}

function binaryString(bytes: Uint8Array): string {
  let out = '';
  // Chunked: one call with a whole large certificate would exceed the argument limit. apply, not
  // a spread, which iterates the array first and costs several times more.
  for (let i = 0; i < bytes.length; i += 0x2000) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x2000) as unknown as number[]);
  }
  return out;
}

/**
 * Throws TspError `malformed`, naming which one, unless every DER is a certificate: a trust
 * file with one damaged block is refused as unreadable rather than refuting every timestamp.
 */
export function assertCertificates(ders: Uint8Array[], what: string): void {
  for (const [i, der] of ders.entries()) certificateEntry(der, `${what}: certificate ${i + 1}`);
}

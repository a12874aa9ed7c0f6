import { toHex } from '@quittance/format';
import { formatName, parsePemCertificates } from '@quittance/tsp';
import { parsePublisherKeys } from '@quittance/verifier';
import { calculateJwkThumbprint } from 'jose';
import { Certificate } from 'pkijs';

// The roots of trust, pinned once and kept in this browser's local storage: the publisher key
// (SPEC §5) and the TSA certificates timestamps must chain to. Each is shown by a thumbprint
// the reader can compare with one obtained another way.

const PUBLISHER_ITEM = 'quittance.publisher-key';
const TSA_ITEM = 'quittance.tsa-trust';

export interface PinnedKey {
  kid: string;
  /** RFC 7638 JWK thumbprint (SHA-256, base64url). */
  thumbprint: string;
}

export interface PinnedCertificate {
  subject: string;
  /** SHA-256 of the DER certificate, as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprint: string;
}

/** Validates a publisher JWKS (or one JWK) and returns its keys with their thumbprints. */
export async function describePublisher(text: string): Promise<PinnedKey[]> {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new Error(
      'The publisher key is not JSON: paste the file /.well-known/quittance-publisher.json',
    );
  }
  const keys = parsePublisherKeys(document);
  return Promise.all(
    [...keys].map(async ([kid, jwk]) => ({
      kid,
      thumbprint: await calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, 'sha256'),
    })),
  );
}

/** Validates PEM trust anchors and describes each certificate. */
export async function describeTsaTrust(pem: string): Promise<PinnedCertificate[]> {
  const certificates = parsePemCertificates(pem);
  if (certificates.length === 0)
    throw new Error('No certificate found: paste PEM blocks (-----BEGIN CERTIFICATE-----)');
  return Promise.all(
    certificates.map(async (der, i) => {
      let subject: string;
      try {
        // RFC 4514, as the timestamp claims name the TSA.
        subject =
          formatName(Certificate.fromBER(der as Uint8Array<ArrayBuffer>).subject) ||
          '(no subject name)';
      } catch {
        throw new Error(`Certificate ${i + 1} is not a readable X.509 certificate`);
      }
      const digest = new Uint8Array(
        await crypto.subtle.digest('SHA-256', der as Uint8Array<ArrayBuffer>),
      );
      return {
        subject,
        fingerprint: toHex(digest)
          .toUpperCase()
          .replace(/(..)(?!$)/g, '$1:'),
      };
    }),
  );
}

/** The pinned text of a root of trust, or undefined. */
export const pinnedPublisher = () => readItem(PUBLISHER_ITEM);
export const pinnedTsaTrust = () => readItem(TSA_ITEM);
export const pinPublisher = (text: string) => writeItem(PUBLISHER_ITEM, text);
export const pinTsaTrust = (text: string) => writeItem(TSA_ITEM, text);
export const forgetPublisher = () => writeItem(PUBLISHER_ITEM, undefined);
export const forgetTsaTrust = () => writeItem(TSA_ITEM, undefined);

function readItem(item: string): string | undefined {
  try {
    return globalThis.localStorage?.getItem(item) ?? undefined;
  } catch {
    // Storage disabled (some private modes, some file:// settings): nothing is pinned.
    return undefined;
  }
}

function writeItem(item: string, text: string | undefined): boolean {
  try {
    if (text === undefined) globalThis.localStorage.removeItem(item);
    else globalThis.localStorage.setItem(item, text);
    return true;
  } catch {
    return false;
  }
}

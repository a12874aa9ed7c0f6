import { asciiBytes, fromBase64url } from '@quittance/format';
import { createEd25519Verifier } from '#ed25519';

export interface Ed25519Jwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid?: string;
}

export function isEd25519Jwk(value: unknown): value is Ed25519Jwk {
  const jwk = value as Partial<Ed25519Jwk> | null;
  return (
    jwk !== null &&
    typeof jwk === 'object' &&
    jwk.kty === 'OKP' &&
    jwk.crv === 'Ed25519' &&
    typeof jwk.x === 'string' &&
    /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/.test(jwk.x) &&
    !('d' in jwk)
  );
}

/**
 * Verifies Ed25519 signatures, importing each public key once. `#ed25519` resolves to
 * node:crypto under Node and to jose (WebCrypto) elsewhere; both are pure EdDSA (RFC 8032).
 */
export class KeyCache {
  readonly verify = createEd25519Verifier();
}

/**
 * Verifies a JWS signature over `BASE64URL(header) "." BASE64URL(payload)`, the payload
 * re-attached by the caller from the document itself. The caller checks the exact header members.
 */
export async function verifyJwsSignature(
  keys: KeyCache,
  jwk: Ed25519Jwk,
  headerB64: string,
  payloadB64: string,
  signatureB64: string,
): Promise<boolean> {
  let signature: Uint8Array;
  try {
    signature = fromBase64url(signatureB64);
  } catch {
    return false;
  }
  return keys.verify(jwk.x, asciiBytes(`${headerB64}.${payloadB64}`), signature);
}

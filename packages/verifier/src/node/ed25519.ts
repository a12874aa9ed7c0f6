import { createPublicKey, type KeyObject, verify } from 'node:crypto';

/** Node: OpenSSL's pure Ed25519, synchronous; keys imported once per `x`. */
export function createEd25519Verifier() {
  const keys = new Map<string, KeyObject>();
  return async (x: string, signingInput: Uint8Array, signature: Uint8Array): Promise<boolean> => {
    let key = keys.get(x);
    if (!key) {
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
      keys.set(x, key);
    }
    return signature.length === 64 && verify(null, signingInput, key, signature);
  };
}

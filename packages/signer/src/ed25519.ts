import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import type { OkpPublicJwk } from '@quittance/format';
import { SignerError } from './errors';

/** Public JWK of an Ed25519 key object; refuses any other key type. */
export function toOkpJwk(key: KeyObject): OkpPublicJwk {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new SignerError(
      'invalid_key',
      `expected an Ed25519 key, got ${key.asymmetricKeyType ?? key.type}`,
    );
  }
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = publicKey.export({ format: 'jwk' });
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x as string };
}

/** Public JWK of a DER SubjectPublicKeyInfo, as AWS KMS GetPublicKey returns it. */
export function spkiToOkpJwk(spki: Uint8Array): OkpPublicJwk {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new SignerError('invalid_key', 'public key is not a DER SubjectPublicKeyInfo', { cause });
  }
  return toOkpJwk(key);
}

/**
 * Checks an Ed25519 signature on libuv's thread pool (node:crypto's callback form), not on
 * the event loop: the API checks every KMS signature, and a verify costs 2.5 signatures.
 */
export function verifyEd25519(
  publicKey: KeyObject,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  return new Promise((resolve, reject) =>
    verify(null, message, publicKey, signature, (error, ok) =>
      error ? reject(error) : resolve(ok),
    ),
  );
}

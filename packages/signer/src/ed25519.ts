import { createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
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
 * Messages up to this size are signed and checked on the event loop; larger ones on libuv's
 * thread pool (node:crypto's callback form). Handing a job to the pool wakes one of its
 * threads and wakes the loop again for the answer: on a 2-core host that cost more than a
 * small signature (bench:issue's load, interleaved A/Bs in both orders: 30–40 µs less CPU
 * per receipt with the local signer, of about 400). Ed25519 reads the message twice
 * (SHA-512), so at 16 KiB a signature takes about 80 µs here and a check about 110 µs;
 * beyond that the pool keeps the loop free. Signers sign at most 4096 bytes by default
 * (SPEC §2.1's digest statements for the rest).
 */
export const INLINE_MESSAGE_BYTES = 16 * 1024;

/** Pure Ed25519 (RFC 8032) signature by a private key object. */
export function signEd25519(privateKey: KeyObject, message: Uint8Array): Promise<Uint8Array> {
  return inlineOrPooled(
    message,
    () => sign(null, message, privateKey),
    (done) => sign(null, message, privateKey, done),
  ).then((signature) => new Uint8Array(signature));
}

/** Checks an Ed25519 signature; the API checks every KMS signature before chaining it. */
export function verifyEd25519(
  publicKey: KeyObject,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  return inlineOrPooled(
    message,
    () => verify(null, message, publicKey, signature),
    (done) => verify(null, message, publicKey, signature, done),
  );
}

/** The size rule above: `inline` on the loop, or `pooled` (the callback form) on the pool. */
function inlineOrPooled<T>(
  message: Uint8Array,
  inline: () => T,
  pooled: (done: (error: Error | null, result: T) => void) => void,
): Promise<T> {
  if (message.byteLength <= INLINE_MESSAGE_BYTES) return Promise.resolve(inline());
  return new Promise((resolve, reject) =>
    pooled((error, result) => (error ? reject(error) : resolve(result))),
  );
}

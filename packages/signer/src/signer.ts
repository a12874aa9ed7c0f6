import { MAX_SIGNING_INPUT_BYTES, type OkpPublicJwk } from '@quittance/format';
import { SignerError } from './errors';

/** Signs with one Ed25519 key; the rest of the code never knows where that key lives. */
export interface Signer {
  /** The kid the key is published under. */
  readonly kid: string;
  /** The longest message this signer accepts: 4096 for AWS KMS (`RAW`). */
  readonly maxMessageBytes: number;
  /** Pure Ed25519 (RFC 8032) signature, 64 bytes, over at most `maxMessageBytes`. */
  sign(message: Uint8Array): Promise<Uint8Array>;
  /** The public key as an RFC 8037 OKP JWK carrying this signer's kid. */
  publicJwk(): Promise<OkpPublicJwk & { kid: string; alg: 'EdDSA'; use: 'sig' }>;
}

export const ED25519_SIGNATURE_BYTES = 64;

/** Guard shared by every signer: refuse before any key is touched. */
export function assertSignableMessage(
  message: Uint8Array,
  maxBytes: number = MAX_SIGNING_INPUT_BYTES,
): void {
  if (message.length > maxBytes) {
    throw new SignerError(
      'message_too_large',
      `message is ${message.length} bytes; this signer accepts at most ${maxBytes}`,
    );
  }
}

export function assertSignatureLength(signature: Uint8Array, kid: string): void {
  if (signature.length !== ED25519_SIGNATURE_BYTES) {
    throw new SignerError(
      'invalid_signature',
      `signature for ${kid} is ${signature.length} bytes, not ${ED25519_SIGNATURE_BYTES}`,
    );
  }
}

import { MAX_SIGNING_INPUT_BYTES, type OkpPublicJwk } from '@quittance/format';
import { SignerError } from './errors';

/** Signs with one Ed25519 key; the rest of the code never knows where that key lives. */
export interface Signer {
  /** The kid the key is published under. */
  readonly kid: string;
  /** Pure Ed25519 (RFC 8032) signature, 64 bytes, over at most 4096 bytes. */
  sign(message: Uint8Array): Promise<Uint8Array>;
  /** The public key as an RFC 8037 OKP JWK carrying this signer's kid. */
  publicJwk(): Promise<OkpPublicJwk & { kid: string; alg: 'EdDSA'; use: 'sig' }>;
}

export const ED25519_SIGNATURE_BYTES = 64;

/** Guard shared by every signer: refuse before any key is touched. */
export function assertSignableMessage(message: Uint8Array): void {
  if (message.length > MAX_SIGNING_INPUT_BYTES) {
    throw new SignerError(
      'message_too_large',
      `message is ${message.length} bytes; Ed25519 signers accept at most ${MAX_SIGNING_INPUT_BYTES}`,
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

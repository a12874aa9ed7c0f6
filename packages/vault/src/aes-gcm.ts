import { createCipheriv, createDecipheriv } from 'node:crypto';
import { canonicalBytes, randomBytes } from '@quittance/format';
import { VaultError } from './errors';

export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const KEY_BYTES = 32;

export interface Sealed {
  iv: Uint8Array;
  /** Ciphertext followed by the 16-byte GCM tag. */
  ciphertext: Uint8Array;
}

/** AES-256-GCM with a fresh random 96-bit IV per message. */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Sealed {
  const iv = randomBytes(IV_BYTES);
  // A fresh 96-bit IV per message; GCM's safety needs it never repeated under one key.
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { iv: new Uint8Array(iv), ciphertext: new Uint8Array(body) };
}

/** Opens what {@link seal} made; any change to key, IV, ciphertext, tag or AAD fails. */
export function open(key: Uint8Array, sealed: Sealed, aad: Uint8Array): Uint8Array {
  if (sealed.iv.length !== IV_BYTES || sealed.ciphertext.length < TAG_BYTES) {
    throw new VaultError('decrypt_failed', 'sealed data is truncated');
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv);
    decipher.setAAD(aad);
    const split = sealed.ciphertext.length - TAG_BYTES;
    decipher.setAuthTag(sealed.ciphertext.subarray(split));
    return new Uint8Array(
      Buffer.concat([decipher.update(sealed.ciphertext.subarray(0, split)), decipher.final()]),
    );
  } catch (cause) {
    throw new VaultError('decrypt_failed', 'authentication failed: wrong key, data or context', {
      cause,
    });
  }
}

export type BodyKind = 'input' | 'output';

/** AAD of a body (SPEC §7): binds merchant, receipt and which body, unambiguously (JCS). */
export function bodyAad(merchantId: string, receiptId: string, kind: BodyKind): Uint8Array {
  return canonicalBytes({ kind, merchantId, receiptId });
}

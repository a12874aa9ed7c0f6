import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { KMSClient } from '@aws-sdk/client-kms';
import { canonicalBytes, concatBytes } from '@quittance/format';
import { KEY_BYTES, open, seal } from './aes-gcm';
import { VaultError } from './errors';

/** Context bound to a wrapped data key (KMS EncryptionContext, local AAD). */
export type WrapContext = Record<string, string>;

/** Envelope encryption of data keys: the rest of the vault never knows which one it has. */
export interface KeyWrapper {
  readonly name: 'local' | 'kms';
  generateDataKey(context: WrapContext): Promise<{ plaintext: Uint8Array; wrapped: Uint8Array }>;
  unwrap(wrapped: Uint8Array, context: WrapContext): Promise<Uint8Array>;
}

/**
 * A local key-encryption key in a file (mode 0600): the development default. Wrapped keys are
 * `iv || ciphertext || tag` under AES-256-GCM with the context as AAD.
 */
export class LocalKeyWrapper implements KeyWrapper {
  readonly name = 'local';
  readonly #kek: Uint8Array;

  private constructor(kek: Uint8Array) {
    this.#kek = kek;
  }

  static fromKey(kek: Uint8Array): LocalKeyWrapper {
    if (kek.length !== KEY_BYTES)
      throw new VaultError('key_file', `key-encryption key must be ${KEY_BYTES} bytes`);
    return new LocalKeyWrapper(kek);
  }

  /** Loads the key file, creating it (32 random bytes, 0600) on first use. */
  static async fromFile(path: string): Promise<LocalKeyWrapper> {
    try {
      return LocalKeyWrapper.fromKey(new Uint8Array(await readFile(path)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new VaultError('key_file', `cannot read vault key file ${path}`, { cause: error });
      }
    }
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    try {
      // O_EXCL: of several processes starting together, exactly one creates the key.
      await writeFile(path, randomBytes(KEY_BYTES), { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    return LocalKeyWrapper.fromKey(new Uint8Array(await readFile(path)));
  }

  /**
   * A fingerprint of the key-encryption key (16 hex digits of a domain-separated SHA-256),
   * stored beside what it wraps so that a process given another key says so by name instead
   * of failing to decrypt. It reveals nothing usable about the key.
   */
  get id(): string {
    return createHash('sha256')
      .update('quittance-local-kek-id\0')
      .update(this.#kek)
      .digest('hex')
      .slice(0, 16);
  }

  async generateDataKey(context: WrapContext) {
    const plaintext = new Uint8Array(randomBytes(KEY_BYTES));
    return { plaintext, wrapped: this.wrap(plaintext, context) };
  }

  /** Wraps any secret (a data key, a private key seed, another key-encryption key). */
  wrap(plaintext: Uint8Array, context: WrapContext): Uint8Array {
    const sealed = seal(this.#kek, plaintext, canonicalBytes(context));
    return concatBytes([sealed.iv, sealed.ciphertext]);
  }

  async unwrap(wrapped: Uint8Array, context: WrapContext) {
    try {
      return open(
        this.#kek,
        { iv: wrapped.subarray(0, 12), ciphertext: wrapped.subarray(12) },
        canonicalBytes(context),
      );
    } catch (cause) {
      throw new VaultError('unwrap_failed', 'data key does not unwrap under this key and context', {
        cause,
      });
    }
  }
}

/**
 * The 32-byte key of `QUITTANCE_LOCAL_KEK` (SPEC §11): base64url, 43 characters without
 * padding (or 44 with one `=`). Throws a VaultError naming the variable, never echoing it.
 */
export function parseLocalKek(value: string, variable = 'QUITTANCE_LOCAL_KEK'): Uint8Array {
  const text = value.trim().replace(/=$/, '');
  const bytes = /^[A-Za-z0-9_-]{43}$/.test(text) ? Buffer.from(text, 'base64url') : undefined;
  if (!bytes || bytes.length !== KEY_BYTES)
    throw new VaultError(
      'key_file',
      `${variable} must be base64url of ${KEY_BYTES} random bytes (43 characters), e.g. the output of: node -e "console.log(crypto.randomBytes(32).toString('base64url'))"`,
    );
  return new Uint8Array(bytes);
}

/** AWS KMS envelope encryption: `GenerateDataKey` (AES_256) and `Decrypt`, with the context. */
export class KmsKeyWrapper implements KeyWrapper {
  readonly name = 'kms';
  constructor(
    readonly client: KMSClient,
    readonly keyId: string,
  ) {}

  async generateDataKey(context: WrapContext) {
    try {
      // Loaded on first use: a process without KMS never loads the SDK (signer's kms-client.ts).
      const { GenerateDataKeyCommand } = await import('@aws-sdk/client-kms');
      const out = await this.client.send(
        new GenerateDataKeyCommand({
          KeyId: this.keyId,
          KeySpec: 'AES_256',
          EncryptionContext: context,
        }),
      );
      if (!out.Plaintext || !out.CiphertextBlob || out.Plaintext.length !== KEY_BYTES) {
        throw new Error('GenerateDataKey returned no 32-byte key');
      }
      return { plaintext: out.Plaintext, wrapped: out.CiphertextBlob };
    } catch (cause) {
      throw kmsError('GenerateDataKey', cause);
    }
  }

  async unwrap(wrapped: Uint8Array, context: WrapContext) {
    try {
      const { DecryptCommand } = await import('@aws-sdk/client-kms');
      const out = await this.client.send(
        new DecryptCommand({
          KeyId: this.keyId,
          CiphertextBlob: wrapped,
          EncryptionContext: context,
        }),
      );
      if (!out.Plaintext || out.Plaintext.length !== KEY_BYTES)
        throw new Error('Decrypt returned no 32-byte key');
      return out.Plaintext;
    } catch (cause) {
      throw kmsError('Decrypt', cause);
    }
  }
}

function kmsError(action: string, cause: unknown): VaultError {
  const name = (cause as { name?: string })?.name ?? 'Error';
  if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException') {
    return new VaultError('unwrap_failed', `${action}: ${name}`, { cause });
  }
  return new VaultError('wrapper_unavailable', `${action}: ${name}`, { cause, retryable: true });
}

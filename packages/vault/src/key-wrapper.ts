import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { canonicalBytes } from '@quittance/format';
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

  async generateDataKey(context: WrapContext) {
    const plaintext = new Uint8Array(randomBytes(KEY_BYTES));
    const sealed = seal(this.#kek, plaintext, canonicalBytes(context));
    const wrapped = new Uint8Array(sealed.iv.length + sealed.ciphertext.length);
    wrapped.set(sealed.iv);
    wrapped.set(sealed.ciphertext, sealed.iv.length);
    return { plaintext, wrapped };
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

/** AWS KMS envelope encryption: `GenerateDataKey` (AES_256) and `Decrypt`, with the context. */
export class KmsKeyWrapper implements KeyWrapper {
  readonly name = 'kms';
  constructor(
    readonly client: KMSClient,
    readonly keyId: string,
  ) {}

  async generateDataKey(context: WrapContext) {
    try {
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

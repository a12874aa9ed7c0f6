import { createPublicKey, type KeyObject } from 'node:crypto';
import type { GetPublicKeyCommandOutput, KMSClient, Tag } from '@aws-sdk/client-kms';
import { MAX_SIGNING_INPUT_BYTES } from '@quittance/format';
import { spkiToOkpJwk, verifyEd25519 } from './ed25519';
import { SignerError } from './errors';
import { toSignerError } from './kms-errors';
import { leanSign, prepareLeanSign } from './kms-sign-call';
import { assertSignableMessage, assertSignatureLength, type Signer } from './signer';

export const KMS_KEY_SPEC = 'ECC_NIST_EDWARDS25519';
export const KMS_SIGNING_ALGORITHM = 'ED25519_SHA_512';

export interface KmsSignerOptions {
  client: KMSClient;
  /** KMS key id or ARN. */
  keyId: string;
  /** The kid this key is published under. */
  kid: string;
}

/**
 * Ed25519 signing in AWS KMS: `Sign` with `ED25519_SHA_512` over the `RAW` message, which KMS
 * defines as pure EdDSA (RFC 8032). The private key never leaves KMS. Each signature is
 * checked against the public key before it is returned, so a corrupted answer never gets
 * chained into the audit log.
 */
export class KmsSigner implements Signer {
  readonly kid: string;
  readonly keyId: string;
  /** AWS KMS signs raw messages of at most 4096 bytes. */
  readonly maxMessageBytes = MAX_SIGNING_INPUT_BYTES;
  readonly #client: KMSClient;
  #publicKey: Promise<KeyObject> | undefined;

  constructor(options: KmsSignerOptions) {
    this.#client = options.client;
    prepareLeanSign(options.client);
    this.keyId = options.keyId;
    this.kid = options.kid;
  }

  /** Creates a new `ECC_NIST_EDWARDS25519` / `SIGN_VERIFY` key and returns its signer. */
  static async create(options: {
    client: KMSClient;
    kid: string;
    description?: string;
    tags?: Tag[];
  }): Promise<KmsSigner> {
    let keyId: string | undefined;
    try {
      // The SDK's commands load on first use (kms-client.ts says why).
      const { CreateKeyCommand } = await import('@aws-sdk/client-kms');
      const out = await options.client.send(
        new CreateKeyCommand({
          KeySpec: KMS_KEY_SPEC,
          KeyUsage: 'SIGN_VERIFY',
          Description: options.description ?? `Quittance signing key ${options.kid}`,
          // IAM policies grant Sign only on keys with this tag (infra/aws).
          Tags: [
            { TagKey: 'quittance:managed', TagValue: 'true' },
            { TagKey: 'quittance:kid', TagValue: options.kid },
            ...(options.tags ?? []),
          ],
        }),
      );
      keyId = out.KeyMetadata?.Arn ?? out.KeyMetadata?.KeyId;
    } catch (error) {
      throw toSignerError(error, 'CreateKey');
    }
    if (!keyId) throw new SignerError('kms_error', 'CreateKey returned no key id');
    return new KmsSigner({ client: options.client, keyId, kid: options.kid });
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    assertSignableMessage(message, this.maxMessageBytes);
    const publicKey = await this.#loadPublicKey();
    let signature: Uint8Array | undefined;
    try {
      // The lean call once the SDK has resolved the endpoint (the public key fetch above).
      signature =
        (await leanSign(this.#client, this.keyId, message, KMS_SIGNING_ALGORITHM)) ??
        (await this.#sdkSign(message));
    } catch (error) {
      throw toSignerError(error, 'Sign');
    }
    if (!signature)
      throw new SignerError('invalid_signature', `KMS returned no signature for ${this.kid}`);
    assertSignatureLength(signature, this.kid);
    if (!(await verifyEd25519(publicKey, message, signature))) {
      throw new SignerError('invalid_signature', `KMS signature for ${this.kid} does not verify`);
    }
    return signature;
  }

  async publicJwk() {
    const key = await this.#loadPublicKey();
    return {
      ...spkiToOkpJwk(new Uint8Array(key.export({ format: 'der', type: 'spki' }))),
      kid: this.kid,
      alg: 'EdDSA' as const,
      use: 'sig' as const,
    };
  }

  /** Fetched once per signer; a failed fetch is not cached so that it can be retried. */
  #loadPublicKey(): Promise<KeyObject> {
    this.#publicKey ??= this.#fetchPublicKey().catch((error: unknown) => {
      this.#publicKey = undefined;
      throw error;
    });
    return this.#publicKey;
  }

  /** Sign through the SDK's own middleware, for clients the lean call cannot serve. */
  async #sdkSign(message: Uint8Array): Promise<Uint8Array | undefined> {
    const { SignCommand } = await import('@aws-sdk/client-kms');
    const out = await this.#client.send(
      new SignCommand({
        KeyId: this.keyId,
        Message: message,
        MessageType: 'RAW',
        SigningAlgorithm: KMS_SIGNING_ALGORITHM,
      }),
    );
    return out.Signature;
  }

  async #fetchPublicKey(): Promise<KeyObject> {
    let out: GetPublicKeyCommandOutput;
    try {
      const { GetPublicKeyCommand } = await import('@aws-sdk/client-kms');
      out = await this.#client.send(new GetPublicKeyCommand({ KeyId: this.keyId }));
    } catch (error) {
      throw toSignerError(error, 'GetPublicKey');
    }
    if (out.KeySpec !== KMS_KEY_SPEC || out.KeyUsage !== 'SIGN_VERIFY') {
      throw new SignerError(
        'invalid_key',
        `KMS key ${this.keyId} is ${out.KeySpec}/${out.KeyUsage}, not ${KMS_KEY_SPEC}/SIGN_VERIFY`,
      );
    }
    if (!out.PublicKey)
      throw new SignerError('invalid_key', `KMS key ${this.keyId} has no public key`);
    const jwk = spkiToOkpJwk(out.PublicKey);
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
  }
}

import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { KMSClient } from '@aws-sdk/client-kms';
import { base64url, utf8 } from '@quittance/format';
import { KmsSigner, LocalSigner, type Signer } from '@quittance/signer';

/** RFC 7638 thumbprint of an Ed25519 key: `publisher-<first 16 characters>` is its kid. */
export function publisherKid(x: string): string {
  const members = `{"crv":"Ed25519","kty":"OKP","x":"${x}"}`;
  return `publisher-${base64url(createHash('sha256').update(utf8(members)).digest()).slice(0, 16)}`;
}

/**
 * The service's publisher key, which signs key snapshots and revocations: an AWS KMS key when
 * configured, else `<dataDir>/publisher.jwk`, created on first start.
 */
export async function loadPublisher(options: {
  dataDir: string;
  kms?: { client: KMSClient; keyId: string } | undefined;
}): Promise<Signer> {
  if (options.kms) {
    const probe = new KmsSigner({
      client: options.kms.client,
      keyId: options.kms.keyId,
      kid: 'publisher',
    });
    const kid = publisherKid((await probe.publicJwk()).x);
    return new KmsSigner({ client: options.kms.client, keyId: options.kms.keyId, kid });
  }
  const path = join(options.dataDir, 'publisher.jwk');
  try {
    return await LocalSigner.load(path);
  } catch (error) {
    if ((error as { cause?: NodeJS.ErrnoException }).cause?.code !== 'ENOENT') throw error;
  }
  const draft = LocalSigner.generate('publisher');
  const signer = draft.withKid(publisherKid((await draft.publicJwk()).x));
  try {
    await signer.save(path, { exclusive: true });
    return signer;
  } catch (error) {
    // Another process created it first: everyone uses that one.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return await LocalSigner.load(path);
  }
}

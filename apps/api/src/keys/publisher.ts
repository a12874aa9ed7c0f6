import { join } from 'node:path';
import type { KMSClient } from '@aws-sdk/client-kms';
import { type Db, keySnapshots } from '@quittance/db';
import { publisherKid } from '@quittance/format';
import { KmsSigner, LocalSigner, type Signer, SignerError } from '@quittance/signer';
import type { SecretOrigin, WrappedKeyStore } from '../vault/wrapped-keys';

/** The name of the publisher key among the wrapped keys. */
export const PUBLISHER_KEY_NAME = 'publisher';

/**
 * The service's publisher key, which signs key snapshots and revocations: an AWS KMS key when
 * configured; else a local key, kept in the database wrapped by QUITTANCE_LOCAL_KEK when it
 * is set (every process shares it; a `publisher.jwk` of an earlier version is imported once),
 * or `<dataDir>/publisher.jwk`, created on first start, when it is not.
 */
export async function loadPublisher(options: {
  dataDir: string;
  kms?: { client: KMSClient; keyId: string } | undefined;
  keys?: { store: WrappedKeyStore; db: Db } | undefined;
}): Promise<{ signer: Signer; origin?: SecretOrigin }> {
  if (options.kms) {
    const probe = new KmsSigner({
      client: options.kms.client,
      keyId: options.kms.keyId,
      kid: 'publisher',
    });
    const kid = await publisherKid((await probe.publicJwk()).x);
    return {
      signer: new KmsSigner({ client: options.kms.client, keyId: options.kms.keyId, kid }),
    };
  }
  const path = join(options.dataDir, 'publisher.jwk');
  if (options.keys) {
    const { db, store } = options.keys;
    const { secret, origin } = await store.resolve(PUBLISHER_KEY_NAME, {
      fromFile: async () => (await loadIfPresent(path))?.privateSeed(),
      generate: () => LocalSigner.generate('publisher').privateSeed(),
      assertMayGenerate: async () => {
        // Snapshots signed by a publisher key the database does not hold: a new key would
        // not verify them, and every auditor pinned the old one.
        const [published] = await db
          .select({ period: keySnapshots.period })
          .from(keySnapshots)
          .limit(1);
        if (published)
          throw new SignerError(
            'key_file',
            `the database holds key snapshots signed by a publisher key it does not hold: start once, with QUITTANCE_LOCAL_KEK, a process whose data folder has that publisher.jwk (not ${path}), or set QUITTANCE_PUBLISHER_KMS_KEY_ID to the KMS key that signed them`,
          );
      },
    });
    const draft = LocalSigner.fromSeed(secret, 'publisher');
    return { signer: draft.withKid(await publisherKid((await draft.publicJwk()).x)), origin };
  }
  const existing = await loadIfPresent(path);
  if (existing) return { signer: existing };
  const draft = LocalSigner.generate('publisher');
  const signer = draft.withKid(await publisherKid((await draft.publicJwk()).x));
  // Another process may create it first: everyone uses that one.
  return { signer: await LocalSigner.saveOrLoad(path, signer) };
}

/** The key file at `path`, or undefined when there is none. */
async function loadIfPresent(path: string): Promise<LocalSigner | undefined> {
  try {
    return await LocalSigner.load(path);
  } catch (error) {
    if ((error as { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOENT') return undefined;
    throw error;
  }
}

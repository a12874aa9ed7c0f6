import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { KMSClient } from '@aws-sdk/client-kms';
import { type Db, vaultKeys } from '@quittance/db';
import {
  KEY_BYTES,
  type KeyWrapper,
  KmsKeyWrapper,
  LocalKeyWrapper,
  VaultError,
} from '@quittance/vault';
import { and, eq, isNotNull } from 'drizzle-orm';
import { readIfPresent, type SecretOrigin, type WrappedKeyStore } from './wrapped-keys';

/** The name of the vault's key-encryption key among the wrapped keys. */
export const VAULT_KEK_NAME = 'vault-kek';

/**
 * What wraps the vault's data keys (SPEC §7): a KMS key when configured; else a local
 * key-encryption key, kept in the database wrapped by QUITTANCE_LOCAL_KEK when it is set
 * (so every process shares it), or the data folder's `vault.key` when it is not (one process).
 */
export async function loadVaultWrapper(options: {
  dataDir: string;
  db: Db;
  kms?: { client: KMSClient; keyId: string } | undefined;
  keys?: WrappedKeyStore | undefined;
}): Promise<{ wrapper: KeyWrapper; origin?: SecretOrigin }> {
  if (options.kms) return { wrapper: new KmsKeyWrapper(options.kms.client, options.kms.keyId) };
  const file = join(options.dataDir, 'vault.key');
  if (!options.keys) return { wrapper: await LocalKeyWrapper.fromFile(file) };
  const { secret, origin } = await options.keys.resolve(VAULT_KEK_NAME, {
    fromFile: async () => {
      const bytes = await readIfPresent(file);
      if (bytes) LocalKeyWrapper.fromKey(bytes); // refuses a file that is not a 32-byte key
      return bytes;
    },
    generate: () => new Uint8Array(randomBytes(KEY_BYTES)),
    assertMayGenerate: async () => {
      // Data keys wrapped by a local key the database does not hold: a new key would make
      // every body they protect unreadable. The key is in some process's data folder.
      const [wrapped] = await options.db
        .select({ id: vaultKeys.id })
        .from(vaultKeys)
        .where(and(eq(vaultKeys.wrapper, 'local'), isNotNull(vaultKeys.wrappedKey)))
        .limit(1);
      if (wrapped)
        throw new VaultError(
          'key_file',
          `the database holds vault data keys wrapped by a local key it does not hold: start once, with QUITTANCE_LOCAL_KEK, a process whose data folder has that vault.key (not ${file}), to import it`,
        );
    },
  });
  return { wrapper: LocalKeyWrapper.fromKey(secret), origin };
}

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { KMSClient } from '@aws-sdk/client-kms';
import { KmsSigner, LocalSigner, type Signer, SignerError } from '@quittance/signer';
import type { WrappedKeyStore } from '../vault/wrapped-keys';

/** Makes and loads merchant signing keys in the configured backend. */
export interface SignerFactory {
  readonly backend: 'local' | 'kms';
  /** Creates a new key; returns the signer and the reference to store. */
  create(kid: string): Promise<{ signer: Signer; keyRef: string }>;
  load(kid: string, keyRef: string): Promise<Signer>;
}

/** keyRef of a local key kept in the database (a key file's name otherwise). */
const WRAPPED_REF = 'wrapped:';

/** The name of a local signing key among the wrapped keys. */
const SIGNING_KEY_PREFIX = 'signing-key:';
export const signingKeyName = (kid: string) => `${SIGNING_KEY_PREFIX}${kid}`;

/**
 * Local Ed25519 merchant keys. With a {@link WrappedKeyStore} (QUITTANCE_LOCAL_KEK set) they
 * live in the database, wrapped, shared by every process; a key file an earlier version wrote
 * (`<dataDir>/keys/<kid>.jwk`) is imported when it is first needed. Without one, they are key
 * files (mode 0600) in the data folder: one process, the embedded default.
 */
export function localSignerFactory(dataDir: string, keys?: WrappedKeyStore): SignerFactory {
  const path = (keyRef: string) => join(dataDir, 'keys', keyRef);
  // Local keys keep KMS's 4096-byte limit, so development signs exactly as production:
  // snapshots and manifests through digest statements (SPEC §2.1).
  if (!keys)
    return {
      backend: 'local',
      async create(kid) {
        // The file a kid already has is kept and used: a request that loses a race for the
        // kid (a merchant created twice, concurrent rotations) must not replace a key that
        // the winner has published and signs with.
        const keyRef = `${kid}.jwk`;
        return {
          signer: await LocalSigner.saveOrLoad(path(keyRef), LocalSigner.generate(kid)),
          keyRef,
        };
      },
      async load(kid, keyRef) {
        if (keyRef.startsWith(WRAPPED_REF))
          throw new SignerError(
            'key_file',
            `signing key ${kid} is kept in the database wrapped by QUITTANCE_LOCAL_KEK, which this process was not given`,
          );
        return LocalSigner.load(path(keyRef));
      },
    };
  return {
    backend: 'local',
    async create(kid) {
      // The stored key is the one used: of two processes creating the same kid, one key wins.
      const seed = await keys.putIfAbsent(
        signingKeyName(kid),
        LocalSigner.generate(kid).privateSeed(),
      );
      return { signer: LocalSigner.fromSeed(seed, kid), keyRef: `${WRAPPED_REF}${kid}` };
    },
    async load(kid, keyRef) {
      const stored = await keys.get(signingKeyName(kid));
      if (stored) return LocalSigner.fromSeed(stored, kid);
      if (!keyRef.startsWith(WRAPPED_REF)) {
        const file = await LocalSigner.load(path(keyRef)).catch(() => undefined);
        if (file)
          return LocalSigner.fromSeed(
            await keys.putIfAbsent(signingKeyName(kid), file.privateSeed()),
            kid,
          );
      }
      throw new SignerError(
        'key_file',
        `signing key ${kid} is neither in the database nor in ${path(keyRef)}: start once, with QUITTANCE_LOCAL_KEK, a process whose data folder holds it, to import it`,
      );
    },
  };
}

/**
 * Imports every key file of `<dataDir>/keys` (what an earlier version, or a process without
 * QUITTANCE_LOCAL_KEK, wrote) into the database, so that processes with other data folders
 * can sign with them and receipts they signed keep verifying. Idempotent: a key already
 * stored is kept and not written again, so a start with nothing new costs one statement.
 * Returns the kids it imported.
 */
export async function importSigningKeyFiles(
  dataDir: string,
  keys: WrappedKeyStore,
): Promise<string[]> {
  const folder = join(dataDir, 'keys');
  const names = await readdir(folder).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  const files = names.filter((n) => n.endsWith('.jwk')).sort();
  if (files.length === 0) return [];
  const stored = await keys.namesStartingWith(SIGNING_KEY_PREFIX);
  const kids: string[] = [];
  for (const name of files) {
    const signer = await LocalSigner.load(join(folder, name));
    if (stored.has(signingKeyName(signer.kid))) continue;
    await keys.putIfAbsent(signingKeyName(signer.kid), signer.privateSeed());
    kids.push(signer.kid);
  }
  return kids;
}

/** One AWS KMS key (`ECC_NIST_EDWARDS25519`, `SIGN_VERIFY`) per merchant key. */
export function kmsSignerFactory(client: KMSClient): SignerFactory {
  return {
    backend: 'kms',
    async create(kid) {
      const signer = await KmsSigner.create({ client, kid });
      return { signer, keyRef: signer.keyId };
    },
    load: async (kid, keyRef) => new KmsSigner({ client, keyId: keyRef, kid }),
  };
}

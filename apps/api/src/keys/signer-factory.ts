import { join } from 'node:path';
import type { KMSClient } from '@aws-sdk/client-kms';
import { KmsSigner, LocalSigner, type Signer } from '@quittance/signer';

/** Makes and loads merchant signing keys in the configured backend. */
export interface SignerFactory {
  readonly backend: 'local' | 'kms';
  /** Creates a new key; returns the signer and the reference to store. */
  create(kid: string): Promise<{ signer: Signer; keyRef: string }>;
  load(kid: string, keyRef: string): Promise<Signer>;
}

/** Key files `<dataDir>/keys/<kid>.jwk` (mode 0600): the development default. */
export function localSignerFactory(dataDir: string): SignerFactory {
  const path = (keyRef: string) => join(dataDir, 'keys', keyRef);
  return {
    backend: 'local',
    async create(kid) {
      const signer = LocalSigner.generate(kid);
      const keyRef = `${kid}.jwk`;
      await signer.save(path(keyRef));
      return { signer, keyRef };
    },
    // Local keys keep KMS's 4096-byte limit, so development signs exactly as production:
    // snapshots and manifests through digest statements (SPEC §2.1).
    load: async (_kid, keyRef) => LocalSigner.load(path(keyRef)),
  };
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

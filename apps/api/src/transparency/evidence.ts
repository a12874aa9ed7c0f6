import { Writable } from 'node:stream';
import {
  type SourceBodies,
  snapshotPeriods,
  toReceiptLine,
  writeEvidenceBundle,
} from '@quittance/bundle';
import type { Db } from '@quittance/db';
import { type InclusionProof, JWS_TYPES, newId } from '@quittance/format';
import { signDigest } from '@quittance/signer';
import type { Vault } from '@quittance/vault';
import type { Principal } from '../auth/api-keys';
import type { ReceiptQueries } from '../chain/queries';
import { KeyHistoryChanged, type KeyRing } from '../keys/key-ring';
import { newestVersionIn, snapshotDocuments } from '../keys/snapshots';
import { ServiceError } from '../service-error';
import { openBodies } from '../vault/bodies';
import type { ProofService } from './proofs';

/** Builds of one bundle a run of key changes may spoil before the request gives up. */
const MAX_BUILDS = 3;

/**
 * Order evidence bundles (SPEC §9.1): the receipts of the order the key may see, each with
 * its inclusion proof against one checkpoint, the key history and TSA certificates, and the
 * bodies when asked for by a merchant or auditor key. Small by nature (one order), so a
 * bundle is built in memory and answered whole.
 */
export class EvidenceService {
  constructor(
    private readonly deps: {
      db: Db;
      vault: Vault;
      receipts: ReceiptQueries;
      proofs: ProofService;
      keyRing: KeyRing;
      clock: () => Date;
      /** DER certificates for tsa/ besides those the tokens embed (the TSA's trust anchors). */
      tsaCertificates: Uint8Array[];
    },
  ) {}

  async order(
    principal: Principal,
    orderId: string,
    includeBodies: boolean,
  ): Promise<{ zip: Buffer; sha256: string; receipts: number }> {
    const { db, vault, keyRing } = this.deps;
    if (includeBodies && principal.role === 'agent')
      throw new ServiceError('forbidden', 'agent keys may not read bodies');
    const receipts = await this.deps.receipts.byOrder(principal, orderId);
    if (receipts.length === 0)
      throw new ServiceError('not_found', `no receipts of order ${orderId}`);
    // One checkpoint for all: the newest, which must cover the order's newest receipt.
    const proofLines = await this.deps.proofs.againstNewest(principal.merchantId, receipts);
    const receiptLines = receipts.map(toReceiptLine);
    const bodies: SourceBodies[] = [];
    if (includeBodies) {
      for (const receipt of receipts) {
        const opened = await openBodies(db, vault, principal.merchantId, receipt.id);
        bodies.push({ receiptId: receipt.id, bodies: typeof opened === 'string' ? null : opened });
      }
    }
    // A key change while it is built leaves the manifest unverifiable: built again, anew.
    for (let attempt = 1; ; attempt++) {
      const now = this.deps.clock();
      // Signed `now`: that month's snapshot names the signing key (as for an export).
      await keyRing.ensureSnapshot(now);
      const createdAt = now.toISOString();
      const snapshots = await snapshotDocuments(db, snapshotPeriods(receiptLines));
      const chunks: Buffer[] = [];
      const sink = new Writable({
        write(chunk, _encoding, done) {
          chunks.push(chunk as Buffer);
          done();
        },
      });
      try {
        const { sha256 } = await writeEvidenceBundle(
          sink,
          {
            bundleId: newId('evd'),
            merchantId: principal.merchantId,
            orderId,
            createdAt,
            includeBodies,
          },
          {
            receipts: receiptLines,
            proofs: proofLines,
            checkpoint: (proofLines[0] as InclusionProof).checkpoint,
            snapshots,
            tsaCertificates: this.deps.tsaCertificates,
            ...(includeBodies ? { bodies } : {}),
          },
          // The merchant's active key signs the manifest, outside the chain lock (SPEC §2.1).
          (manifest) =>
            keyRing.signManifest(
              principal.merchantId,
              createdAt,
              newestVersionIn(snapshots),
              async (signer) => (await signDigest(manifest, JWS_TYPES.manifest, signer)).jws,
            ),
        );
        return { zip: Buffer.concat(chunks), sha256, receipts: receipts.length };
      } catch (error) {
        if (!(error instanceof KeyHistoryChanged)) throw error;
        if (attempt >= MAX_BUILDS)
          throw new ServiceError(
            'service_unavailable',
            `the signing keys of ${principal.merchantId} kept changing while the evidence was built; retry`,
            { cause: error, retryAfterSeconds: 1 },
          );
      }
    }
  }
}

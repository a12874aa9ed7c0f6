import { Writable } from 'node:stream';
import {
  type EvidenceContent,
  type EvidenceHeader,
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
import { type ReceiptQueries, sightOf } from '../chain/queries';
import { KeyHistoryChanged, type KeyRing } from '../keys/key-ring';
import { publishedKidsIn, snapshotDocuments } from '../keys/snapshots';
import { merchantJurisdiction } from '../merchants/merchants';
import { ServiceError } from '../service-error';
import { bundleBodies, sealedBytesOf } from '../vault/bodies';
import { WorkGate } from '../work-gate';
import type { ProofService } from './proofs';

/**
 * The most receipts one order evidence bundle holds (SPEC §9.1: "small"): it is built in
 * memory within a request. Larger orders are exported (`POST /exports` with `orderId`).
 */
export const MAX_EVIDENCE_RECEIPTS = 2_000;

/** The most body bytes (as stored, sealed) one evidence bundle with bodies holds in memory. */
export const MAX_EVIDENCE_BODY_BYTES = 64 * 2 ** 20;

/** Receipts whose bodies one query reads (the event loop is served between queries). */
const BODIES_PER_QUERY = 100;

/** What an order evidence request answers. */
export interface EvidenceBundle {
  zip: Buffer;
  sha256: string;
  receipts: number;
}

/** Builds of one bundle a run of key changes may spoil before the request gives up. */
const MAX_BUILDS = 3;

/**
 * Order evidence bundles (SPEC §9.1): the receipts of the order the key may see, each with
 * its inclusion proof against one checkpoint, the key history and TSA certificates, and the
 * bodies when asked for by a merchant or auditor key. Small by nature (one order, at most
 * {@link MAX_EVIDENCE_RECEIPTS} receipts), so a bundle is built in memory and answered whole.
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
      /** Bundles built at once in this process; a few more requests wait for a turn. */
      concurrentBuilds: number;
    },
  ) {
    this.#gate = new WorkGate(
      deps.concurrentBuilds,
      8 * deps.concurrentBuilds,
      'order evidence bundles',
    );
  }

  readonly #gate: WorkGate;

  /**
   * The order's evidence bundle as `principal` may see it. Builds take turns at the gate, so
   * they cannot starve issuance; one that cannot start before `deadline` answers 503. Identical
   * requests while one waits for its turn share its build (agents that ask again and again).
   */
  order(
    principal: Principal,
    orderId: string,
    includeBodies: boolean,
    deadline?: AbortSignal,
  ): Promise<EvidenceBundle> {
    if (includeBodies && principal.role === 'agent')
      throw new ServiceError('forbidden', 'agent keys may not read bodies');
    return this.#gate.runShared(
      JSON.stringify([sightOf(principal), orderId, includeBodies]),
      () => this.#build(principal, orderId, includeBodies),
      deadline,
      principal.merchantId,
    );
  }

  async #build(
    principal: Principal,
    orderId: string,
    includeBodies: boolean,
  ): Promise<EvidenceBundle> {
    const { db, vault } = this.deps;
    const receipts = await this.deps.receipts.byOrder(principal, orderId, MAX_EVIDENCE_RECEIPTS);
    if (receipts.length === 0)
      throw new ServiceError('not_found', `no receipts of order ${orderId}`);
    // One checkpoint for all, covering the order's newest receipt (ProofService.againstOne).
    const proofLines = await this.deps.proofs.againstOne(principal.merchantId, receipts);
    const receiptLines = receipts.map(toReceiptLine);
    const ids = receipts.map((r) => r.id);
    const bodies: SourceBodies[] = [];
    if (includeBodies) {
      const bytes = await sealedBytesOf(db, ids);
      if (bytes > MAX_EVIDENCE_BODY_BYTES)
        throw new ServiceError(
          'order_too_large',
          `the bodies of order ${orderId} take ${Math.ceil(bytes / 2 ** 20)} MiB, more than the ${MAX_EVIDENCE_BODY_BYTES / 2 ** 20} MiB one evidence bundle holds; ask without includeBodies, or export the order (POST /exports with orderId and includeBodies)`,
        );
      for await (const line of bundleBodies(db, vault, principal.merchantId, ids, BODIES_PER_QUERY))
        bodies.push(line);
    }
    const content = {
      receipts: receiptLines,
      proofs: proofLines,
      checkpoint: (proofLines[0] as InclusionProof).checkpoint,
      tsaCertificates: this.deps.tsaCertificates,
      ...(includeBodies ? { bodies } : {}),
    };
    const header = {
      merchantId: principal.merchantId,
      jurisdiction: await merchantJurisdiction(db, principal.merchantId),
      orderId,
      includeBodies,
    };
    // A key change while it is zipped leaves the manifest unverifiable: zipped again, anew.
    for (let attempt = 1; ; attempt++) {
      try {
        const zipped = await this.#zipSigned(header, content);
        return { ...zipped, receipts: receipts.length };
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

  /**
   * The zip of `content` with the key snapshots as of now, its manifest signed by the
   * merchant's active key (SPEC §2.1, outside the chain lock); KeyHistoryChanged when a key
   * changed meanwhile.
   */
  async #zipSigned(
    header: Omit<EvidenceHeader, 'bundleId' | 'createdAt'>,
    content: Omit<EvidenceContent, 'snapshots'>,
  ): Promise<{ zip: Buffer; sha256: string }> {
    const { merchantId } = header;
    const { db, keyRing } = this.deps;
    const now = this.deps.clock();
    // Signed `now`: that month's snapshot names the signing key (as for an export).
    await keyRing.ensureSnapshot(now);
    const createdAt = now.toISOString();
    const snapshots = await snapshotDocuments(db, snapshotPeriods(content.receipts));
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        chunks.push(chunk as Buffer);
        done();
      },
    });
    const { sha256 } = await writeEvidenceBundle(
      sink,
      { ...header, bundleId: newId('evd'), createdAt },
      { ...content, snapshots },
      (manifest) =>
        keyRing.signManifest(
          merchantId,
          createdAt,
          publishedKidsIn(snapshots),
          async (signer) => (await signDigest(manifest, JWS_TYPES.manifest, signer)).jws,
        ),
    );
    return { zip: Buffer.concat(chunks), sha256 };
  }
}

import { checkpoints, type Db } from '@quittance/db';
import {
  type Checkpoint,
  type ConsistencyProof,
  consistencyPath,
  type InclusionProof,
  inclusionPath,
  type RangeRoot,
} from '@quittance/format';
import { and, desc, eq, inArray } from 'drizzle-orm';
import type { Principal } from '../auth/api-keys';
import type { ReceiptQueries } from '../chain/queries';
import { ServiceError } from '../service-error';
import { LogTree } from './log-tree';

type CheckpointRow = typeof checkpoints.$inferSelect;
/** What a proof needs of a checkpoint: its size and what checkpointView publishes. */
const PROVEN = {
  seq: checkpoints.seq,
  signed: checkpoints.signed,
  jws: checkpoints.jws,
  timestamp: checkpoints.timestamp,
};
type ProvenRow = Pick<CheckpointRow, keyof typeof PROVEN>;

/** A stored checkpoint as SPEC §6 publishes it: its signed members, `jws` and `timestamp`. */
export function checkpointView(
  row: Pick<CheckpointRow, 'signed' | 'jws' | 'timestamp'>,
): Checkpoint {
  return {
    ...JSON.parse(row.signed),
    jws: row.jws,
    timestamp: (row.timestamp as Checkpoint['timestamp']) ?? null,
  };
}

/**
 * Inclusion proofs of receipts and consistency proofs between checkpoints (SPEC §6.1, §8),
 * always against checkpoints the merchant signed, from the stored log tree.
 */
export class ProofService {
  readonly #tree: LogTree;

  constructor(
    private readonly db: Db,
    private readonly receipts: ReceiptQueries,
    /** How soon a client may expect the next checkpoint, for Retry-After. */
    private readonly retryAfterSeconds: number,
  ) {
    this.#tree = new LogTree(db);
  }

  /** A receipt's proof against `checkpointSeq`, or the latest checkpoint when not given. */
  async inclusion(
    principal: Principal,
    receiptId: string,
    checkpointSeq?: number,
  ): Promise<InclusionProof> {
    // The checkpoint is read while the receipt is (which one does not depend on it), and
    // judged after: visibility is the receipt's, another merchant's or agent's is 404.
    const row = this.#checkpointRow(principal.merchantId, checkpointSeq);
    row.catch(() => {}); // awaited below
    const { chain } = await this.receipts.get(principal, receiptId);
    const checkpoint = this.#covering(await row, chain.seq, checkpointSeq);
    const [proof] = await this.#proofs(
      principal.merchantId,
      [{ id: receiptId, chain }],
      checkpoint,
    );
    return proof as InclusionProof;
  }

  /**
   * Proofs of receipts the caller already read (and may see), all against the one newest
   * checkpoint, which must cover the newest of them (order evidence, SPEC §9.1).
   */
  async againstNewest(
    merchantId: string,
    receipts: readonly { id: string; chain: { seq: number } }[],
  ): Promise<InclusionProof[]> {
    const newest = Math.max(...receipts.map((r) => r.chain.seq));
    const checkpoint = this.#covering(await this.#checkpointRow(merchantId), newest);
    return this.#proofs(merchantId, receipts, checkpoint);
  }

  /** Checkpoint `checkpointSeq` of the merchant, or its newest when not given. */
  async #checkpointRow(merchantId: string, checkpointSeq?: number) {
    const [row] = await this.db
      .select(PROVEN)
      .from(checkpoints)
      .where(
        checkpointSeq === undefined
          ? eq(checkpoints.merchantId, merchantId)
          : and(eq(checkpoints.merchantId, merchantId), eq(checkpoints.seq, checkpointSeq)),
      )
      .orderBy(desc(checkpoints.seq))
      .limit(1);
    return row;
  }

  /** The checkpoint a proof of entry `seq` is made against, `row`, when it may be. */
  #covering(row: ProvenRow | undefined, seq: number, checkpointSeq?: number) {
    if (checkpointSeq !== undefined) {
      if (!row) throw new ServiceError('not_found', `no checkpoint at seq ${checkpointSeq}`);
      if (row.seq < seq)
        throw new ServiceError(
          'invalid_request',
          `checkpoint ${checkpointSeq} was made before this receipt (seq ${seq})`,
        );
    } else if (!row || row.seq < seq) {
      throw new ServiceError('not_checkpointed', `no checkpoint covers seq ${seq} yet`, {
        retryAfterSeconds: this.retryAfterSeconds,
      });
    }
    return row as ProvenRow;
  }

  /** Proofs of `receipts` against `checkpoint`, from one read of the tree for them all. */
  async #proofs(
    merchantId: string,
    receipts: readonly { id: string; chain: { seq: number } }[],
    checkpoint: ProvenRow,
  ): Promise<InclusionProof[]> {
    const paths = (root: RangeRoot) =>
      Promise.all(receipts.map((r) => inclusionPath(r.chain.seq, checkpoint.seq, root)));
    const auditPaths = await paths(await this.#tree.rootsFor(merchantId, paths));
    return receipts.map((r, i) => ({
      receiptId: r.id,
      seq: r.chain.seq,
      treeSize: checkpoint.seq,
      auditPath: auditPaths[i] as string[],
      checkpoint: checkpointView(checkpoint),
    }));
  }

  /** That the tree at checkpoint `to` extends the tree at checkpoint `from` unchanged. */
  async consistency(principal: Principal, from: number, to: number): Promise<ConsistencyProof> {
    if (from > to)
      throw new ServiceError('invalid_request', `from (${from}) must not be after to (${to})`);
    const merchantId = principal.merchantId;
    // The tree is read while the checkpoints are (the nodes needed follow from the sizes), and
    // used once both exist; for sizes no checkpoint has, its error gives way to the 404.
    const proof = (root: RangeRoot) => consistencyPath(from, to, root);
    const roots = this.#tree.rootsFor(merchantId, proof);
    roots.catch(() => {}); // awaited below
    const rows = await this.db
      .select(PROVEN)
      .from(checkpoints)
      .where(and(eq(checkpoints.merchantId, merchantId), inArray(checkpoints.seq, [from, to])));
    const at = (seq: number) => {
      const row = rows.find((r) => r.seq === seq);
      if (!row) throw new ServiceError('not_found', `no checkpoint at seq ${seq}`);
      return row;
    };
    const [older, newer] = [at(from), at(to)];
    return {
      from: checkpointView(older),
      to: checkpointView(newer),
      proof: await proof(await roots),
    };
  }
}

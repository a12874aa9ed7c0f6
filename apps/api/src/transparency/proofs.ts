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
import { ApiError } from '../http/problem';
import type { ReceiptQueries } from '../receipts/queries';
import { LogTree } from './log-tree';

type CheckpointRow = typeof checkpoints.$inferSelect;

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
    // Visibility is the receipt's: another merchant's, or another agent's, is 404.
    const { chain } = await this.receipts.get(principal, receiptId);
    const checkpoint = await this.#covering(principal.merchantId, chain.seq, checkpointSeq);
    return this.#proof(principal.merchantId, receiptId, chain.seq, checkpoint);
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
    const checkpoint = await this.#covering(merchantId, newest);
    const proofs: InclusionProof[] = [];
    for (const r of receipts)
      proofs.push(await this.#proof(merchantId, r.id, r.chain.seq, checkpoint));
    return proofs;
  }

  /** The checkpoint a proof of entry `seq` is made against: the given one, or the newest. */
  async #covering(merchantId: string, seq: number, checkpointSeq?: number) {
    const [row] = await this.db
      .select()
      .from(checkpoints)
      .where(
        checkpointSeq === undefined
          ? eq(checkpoints.merchantId, merchantId)
          : and(eq(checkpoints.merchantId, merchantId), eq(checkpoints.seq, checkpointSeq)),
      )
      .orderBy(desc(checkpoints.seq))
      .limit(1);
    if (checkpointSeq !== undefined) {
      if (!row) throw new ApiError('not_found', `no checkpoint at seq ${checkpointSeq}`);
      if (row.seq < seq)
        throw new ApiError(
          'invalid_request',
          `checkpoint ${checkpointSeq} was made before this receipt (seq ${seq})`,
        );
    } else if (!row || row.seq < seq) {
      throw new ApiError('not_checkpointed', `no checkpoint covers seq ${seq} yet`, undefined, {
        retryAfterSeconds: this.retryAfterSeconds,
      });
    }
    return row as CheckpointRow;
  }

  async #proof(
    merchantId: string,
    receiptId: string,
    seq: number,
    checkpoint: CheckpointRow,
  ): Promise<InclusionProof> {
    const path = (root: RangeRoot) => inclusionPath(seq, checkpoint.seq, root);
    return {
      receiptId,
      seq,
      treeSize: checkpoint.seq,
      auditPath: await path(await this.#tree.rootsFor(merchantId, path)),
      checkpoint: checkpointView(checkpoint),
    };
  }

  /** That the tree at checkpoint `to` extends the tree at checkpoint `from` unchanged. */
  async consistency(principal: Principal, from: number, to: number): Promise<ConsistencyProof> {
    if (from > to)
      throw new ApiError('invalid_request', `from (${from}) must not be after to (${to})`);
    const merchantId = principal.merchantId;
    const rows = await this.db
      .select()
      .from(checkpoints)
      .where(and(eq(checkpoints.merchantId, merchantId), inArray(checkpoints.seq, [from, to])));
    const at = (seq: number) => {
      const row = rows.find((r) => r.seq === seq);
      if (!row) throw new ApiError('not_found', `no checkpoint at seq ${seq}`);
      return row;
    };
    const [older, newer] = [at(from), at(to)];
    const proof = (root: RangeRoot) => consistencyPath(from, to, root);
    return {
      from: checkpointView(older),
      to: checkpointView(newer),
      proof: await proof(await this.#tree.rootsFor(merchantId, proof)),
    };
  }
}

import { checkpoints, type Db } from '@quittance/db';
import {
  type Checkpoint,
  type ConsistencyProof,
  consistencyPath,
  type InclusionProof,
  inclusionPath,
} from '@quittance/format';
import { and, desc, eq, inArray } from 'drizzle-orm';
import type { Principal } from '../auth/api-keys';
import { ApiError } from '../http/problem';
import type { ReceiptQueries } from '../receipts/queries';
import { LogTree } from './log-tree';

type CheckpointRow = typeof checkpoints.$inferSelect;

/** A stored checkpoint as SPEC §6 publishes it: its signed members, `jws` and `timestamp`. */
export function checkpointView(row: CheckpointRow): Checkpoint {
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
    const merchantId = principal.merchantId;
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
      if (row.seq < chain.seq)
        throw new ApiError(
          'invalid_request',
          `checkpoint ${checkpointSeq} was made before this receipt (seq ${chain.seq})`,
        );
    } else if (!row || row.seq < chain.seq) {
      throw new ApiError(
        'not_checkpointed',
        `no checkpoint covers seq ${chain.seq} yet`,
        undefined,
        { retryAfterSeconds: this.retryAfterSeconds },
      );
    }
    const checkpoint = row as CheckpointRow;
    return {
      receiptId,
      seq: chain.seq,
      treeSize: checkpoint.seq,
      auditPath: await inclusionPath(
        chain.seq,
        checkpoint.seq,
        await this.#tree.rootsFor(merchantId, (root) =>
          inclusionPath(chain.seq, checkpoint.seq, root),
        ),
      ),
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
    return {
      from: checkpointView(older),
      to: checkpointView(newer),
      proof: await consistencyPath(
        from,
        to,
        await this.#tree.rootsFor(merchantId, (root) => consistencyPath(from, to, root)),
      ),
    };
  }
}

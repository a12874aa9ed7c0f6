import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Db, RawQuery } from '@quittance/db';
import {
  type Checkpoint,
  type ConsistencyProof,
  consistencyPath,
  type InclusionProof,
  inclusionPath,
  type RangeRoot,
} from '@quittance/format';
import type { Principal } from '../auth/api-keys';
import { VISIBLE, visibilityParams } from '../chain/queries';
import { ServiceError } from '../service-error';
import { signedByRevokedKey } from './checkpoint-signing';
import { inclusionHashesSql, LogTree, type ProofHashes } from './log-tree';

/** What a proof needs of a checkpoint: its size and what checkpointView publishes. */
interface ProvenRow {
  seq: number;
  signed: string;
  jws: string;
  timestamp: unknown;
}

/** A stored checkpoint as SPEC §6 publishes it: its signed members, `jws` and `timestamp`. */
export function checkpointView(row: Omit<ProvenRow, 'seq'>): Checkpoint {
  return {
    ...JSON.parse(row.signed),
    jws: row.jws,
    timestamp: (row.timestamp as Checkpoint['timestamp']) ?? null,
  };
}

/*
 * The proofs' reads in plain SQL of fixed text (prepared once per connection on PostgreSQL):
 * building them through the ORM cost more CPU than the database's work. `timestamp` is read
 * as text because the two drivers return jsonb differently to plain SQL.
 */
const PROVEN = 'seq, signed, jws, "timestamp"::text as "timestamp"';
/**
 * Merchant $1's checkpoint $n, or the newest before it; when $n is null, the newest of all
 * whose key was not revoked as of its createdAt (a revocation dated back to a compromise
 * leaves the checkpoints that key signed since unverifiable, SPEC §5).
 */
const checkpointAt = (n: number) => `select ${PROVEN} from checkpoints c
  where merchant_id = $1 and seq <= coalesce($${n}::bigint, ${Number.MAX_SAFE_INTEGER})
    and ($${n}::bigint is not null or not ${signedByRevokedKey('c')})
  order by seq desc limit 1`;
const CHECKPOINT = checkpointAt(2);
/**
 * Merchant $1's earliest checkpoint covering seq $2 that is timestamped before any
 * revocation of its key: the earliest time the log proves those entries existed by.
 */
const EARLIEST_PROVEN = `select ${PROVEN} from checkpoints c
  where merchant_id = $1 and seq >= $2 and "timestamp" is not null
    and not ${signedByRevokedKey('c', `(c."timestamp"->>'genTime')::timestamptz`)}
  order by seq limit 1`;
/** Inclusion paths computed in one turn of the event loop. */
const PATHS_PER_TURN = 100;
/**
 * Receipt $2's seq where the principal may see it (VISIBLE, $1, $3 and $4), with what
 * checkpointAt answers for $5 and the tree's hashes a proof of it there needs: a proof in one
 * round trip. Which checkpoint does not depend on the receipt; it is judged after.
 */
const INCLUSION = `select r.seq as receipt_seq, c.*, h.nodes, h.entries
  from receipts r left join lateral (${checkpointAt(5)}) c on true
  left join lateral (${inclusionHashesSql('r.seq', 'c.seq')}) h on true
  where r.id = $2 and ${VISIBLE}`;
/** Checkpoints of merchant $1 at the seqs $2. */
const CHECKPOINTS_AT = `select ${PROVEN} from checkpoints where merchant_id = $1 and seq = any($2::bigint[])`;

type RawProven = { seq: number | string; signed: string; jws: string; timestamp: string | null };
const proven = (row: RawProven): ProvenRow => ({
  seq: Number(row.seq),
  signed: row.signed,
  jws: row.jws,
  timestamp: row.timestamp === null ? null : JSON.parse(row.timestamp),
});

/**
 * Inclusion proofs of receipts and consistency proofs between checkpoints (SPEC §6.1, §8),
 * always against checkpoints the merchant signed, from the stored log tree.
 */
export class ProofService {
  readonly #tree: LogTree;

  constructor(
    db: Db,
    private readonly query: RawQuery,
    /** How soon a client may expect the next checkpoint, for Retry-After. */
    private readonly retryAfterSeconds: number,
  ) {
    this.#tree = new LogTree(db, query);
  }

  /** A receipt's proof against `checkpointSeq`, or the latest checkpoint when not given. */
  async inclusion(
    principal: Principal,
    receiptId: string,
    checkpointSeq?: number,
  ): Promise<InclusionProof> {
    const [row] = await this.query<
      RawProven & { receipt_seq: number | string; nodes: string | null; entries: string | null }
    >(INCLUSION, [...visibilityParams(principal, receiptId), checkpointSeq ?? null]);
    // Visibility is the receipt's: another merchant's or agent's is 404.
    if (!row) throw new ServiceError('not_found', `no receipt ${receiptId}`);
    const seq = Number(row.receipt_seq);
    const checkpoint = this.#covering(
      row.seq === null ? undefined : proven(row),
      seq,
      checkpointSeq,
    );
    const read = { nodes: JSON.parse(row.nodes ?? '{}'), entries: JSON.parse(row.entries ?? '{}') };
    const [proof] = await this.#proofs(
      principal.merchantId,
      [{ id: receiptId, chain: { seq } }],
      checkpoint,
      read,
    );
    return proof as InclusionProof;
  }

  /**
   * Proofs of receipts the caller already read (and may see), all against one checkpoint
   * that covers the newest of them (order evidence, SPEC §9.1): the earliest timestamped
   * before any revocation of its key, which proves they existed as early as the log can, so
   * that a later revocation of their key leaves them valid (SPEC §5); the newest checkpoint
   * while none is. The newest could be timestamped after a revocation and prove nothing.
   */
  async againstOne(
    merchantId: string,
    receipts: readonly { id: string; chain: { seq: number } }[],
  ): Promise<InclusionProof[]> {
    const newest = Math.max(...receipts.map((r) => r.chain.seq));
    const [earliest] = await this.query<RawProven>(EARLIEST_PROVEN, [merchantId, newest]);
    const checkpoint = earliest
      ? proven(earliest)
      : this.#covering(await this.#newest(merchantId), newest);
    return this.#proofs(merchantId, receipts, checkpoint);
  }

  /** The merchant's newest checkpoint. */
  async #newest(merchantId: string): Promise<ProvenRow | undefined> {
    const [row] = await this.query<RawProven>(CHECKPOINT, [merchantId, null]);
    return row && proven(row);
  }

  /**
   * The checkpoint a proof of entry `seq` is made against, `row`, when it may be: `row` is
   * checkpoint `checkpointSeq` or the newest before it, the newest of all when not given.
   */
  #covering(row: ProvenRow | undefined, seq: number, checkpointSeq?: number) {
    if (checkpointSeq !== undefined) {
      if (!row || row.seq !== checkpointSeq)
        throw new ServiceError('not_found', `no checkpoint at seq ${checkpointSeq}`);
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

  /**
   * Proofs of `receipts` against `checkpoint`, from one read of the tree for them all, or
   * from the hashes already `read` when they hold every one needed.
   */
  async #proofs(
    merchantId: string,
    receipts: readonly { id: string; chain: { seq: number } }[],
    checkpoint: ProvenRow,
    read?: ProofHashes,
  ): Promise<InclusionProof[]> {
    // In rounds, the event loop served between them: an order's 2,000 paths computed at
    // once held it for a few hundred milliseconds.
    const paths = async (root: RangeRoot) => {
      const all: string[][] = [];
      for (let at = 0; at < receipts.length; at += PATHS_PER_TURN) {
        if (at > 0) await nextTurn();
        const round = receipts.slice(at, at + PATHS_PER_TURN);
        all.push(
          ...(await Promise.all(
            round.map((r) => inclusionPath(r.chain.seq, checkpoint.seq, root)),
          )),
        );
      }
      return all;
    };
    const auditPaths = await paths(await this.#tree.rootsFor(merchantId, paths, read));
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
    const rows = (await this.query<RawProven>(CHECKPOINTS_AT, [merchantId, [from, to]])).map(
      proven,
    );
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

import { chainHeads, checkpoints, type Db, receipts, type Tx } from '@quittance/db';
import { planCheckpointSignature, rootFromFrontier, toTimestampMs } from '@quittance/format';
import { type Signer, signPlan } from '@quittance/signer';
import { and, desc, eq } from 'drizzle-orm';
import { entriesThrough, frontierAt } from './frontier';
import { LogTree } from './log-tree';

/**
 * SQL: whether checkpoint row `alias` was signed by a key revoked as of `at`, its createdAt by
 * default. No verifier accepts one revoked as of its createdAt (a revocation dated back to a
 * compromise, SPEC §5): proofs skip it, and the checkpoint job signs its head again.
 */
export const signedByRevokedKey = (alias: string, at = `${alias}.created_at`) =>
  `exists (select 1 from signing_keys k where k.kid = ${alias}.signing_key_kid and k.revoked_at <= ${at})`;

export interface HeadWithRoot {
  merchantId: string;
  seq: number;
  entryHash: string;
  /** RFC 9162 root of entries 1..seq (SPEC §6.1). */
  rootHash: string;
  /** Seq of the merchant's newest checkpoint, 0 when none. */
  lastCheckpointSeq: number;
}

/**
 * A merchant's chain head and the root of its tree, read together through `db`, with the
 * stored tree filled up to the head and checked to give that root: a checkpoint is only ever
 * signed over a root every proof against it can be made from.
 */
export async function headWithRoot(db: Db | Tx, merchantId: string): Promise<HeadWithRoot> {
  const [head] = await db
    .select({ seq: chainHeads.seq, entryHash: chainHeads.entryHash, frontier: chainHeads.frontier })
    .from(chainHeads)
    .where(eq(chainHeads.merchantId, merchantId));
  if (!head) throw new Error(`merchant ${merchantId} has no chain head`);
  const [last] = await db
    .select({ seq: checkpoints.seq })
    .from(checkpoints)
    .where(eq(checkpoints.merchantId, merchantId))
    .orderBy(desc(checkpoints.seq))
    .limit(1);
  const frontier = await frontierAt(
    head.seq,
    head.frontier,
    entriesThrough(db, merchantId, head.seq),
  );
  const rootHash = await rootFromFrontier(frontier);
  if (head.seq > 0) {
    const tree = new LogTree(db);
    await tree.fill(merchantId, head.seq);
    const stored = await tree.root(merchantId, head.seq);
    if (stored !== rootHash)
      throw new Error(
        `log of ${merchantId}: the stored tree's root at ${head.seq} is ${stored}, the frontier's ${rootHash}`,
      );
  }
  return {
    merchantId,
    seq: head.seq,
    entryHash: head.entryHash,
    rootHash,
    lastCheckpointSeq: last?.seq ?? 0,
  };
}

/**
 * What a checkpoint at `seq` signs, an entry at or below a head `headWithRoot` filled the
 * tree up to: its entry hash and the stored tree's root at that size.
 */
export async function entryWithRoot(
  db: Db | Tx,
  merchantId: string,
  seq: number,
): Promise<Pick<HeadWithRoot, 'merchantId' | 'seq' | 'entryHash' | 'rootHash'>> {
  const [entry] = await db
    .select({ entryHash: receipts.entryHash })
    .from(receipts)
    .where(and(eq(receipts.merchantId, merchantId), eq(receipts.seq, seq)));
  if (!entry) throw new Error(`log of ${merchantId}: no entry at seq ${seq}`);
  const rootHash = await new LogTree(db).root(merchantId, seq);
  return { merchantId, seq, entryHash: entry.entryHash, rootHash };
}

/** The checkpoint row of `head`, signed by `signer` at `at` (SPEC §6). */
export async function signCheckpoint(
  head: Pick<HeadWithRoot, 'merchantId' | 'seq' | 'entryHash' | 'rootHash'>,
  signer: Signer,
  at: Date,
): Promise<typeof checkpoints.$inferInsert> {
  const signed = {
    merchantId: head.merchantId,
    seq: head.seq,
    entryHash: head.entryHash,
    rootHash: head.rootHash,
    createdAt: toTimestampMs(at),
    signingKeyKid: signer.kid,
  };
  const plan = planCheckpointSignature(signed);
  const { jws } = await signPlan(plan, signer);
  return { ...signed, createdAt: at, signed: plan.payloadJson, jws, nextAttemptAt: at };
}

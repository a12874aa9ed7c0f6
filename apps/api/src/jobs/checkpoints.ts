import { checkpoints, rowsOf } from '@quittance/db';
import { and, eq, sql } from 'drizzle-orm';
import type { Services } from '../services';
import {
  entryWithRoot,
  type HeadWithRoot,
  headWithRoot,
  signCheckpoint,
  signedByRevokedKey,
} from '../transparency/checkpoint-signing';

interface HeadRow {
  merchant_id: string;
  seq: string;
  last_seq: string;
  since: string | number;
  /** The newest checkpoint's key was revoked as of its createdAt: no verifier accepts it. */
  unverifiable: boolean;
}

/**
 * Signs a checkpoint of each merchant's chain head that moved by `checkpointEvery` receipts,
 * or that moved at all and whose last checkpoint is `checkpointIntervalMs` old (SPEC §6);
 * a head that moved further than `checkpointEvery` also gets one at every such step.
 * Racing schedulers insert the same (merchant, seq) once.
 *
 * A newest checkpoint that a revocation dated back made unverifiable is replaced at once:
 * signed again over the same head by the merchant's current key when the head has not moved
 * (the receipts it covered would otherwise have no proof until the next receipt), or
 * followed by a checkpoint of the head when it has.
 */
export async function createDueCheckpoints(services: Services): Promise<number> {
  const { db, config, keyRing } = services;
  const now = services.clock();
  const result = await db.execute(sql`
    select h.merchant_id, h.seq::text as seq, coalesce(c.seq, 0)::text as last_seq,
      extract(epoch from coalesce(c.created_at, m.created_at)) * 1000 as since,
      coalesce(c.unverifiable, false) as unverifiable
    from chain_heads h
    join merchants m on m.id = h.merchant_id
    left join lateral (
      select seq, created_at, ${sql.raw(signedByRevokedKey('cp'))} as unverifiable
        from checkpoints cp where cp.merchant_id = h.merchant_id order by seq desc limit 1
    ) c on true
    where h.seq > coalesce(c.seq, 0) or c.unverifiable`);
  let created = 0;
  for (const row of rowsOf<HeadRow>(result)) {
    const head = { merchantId: row.merchant_id, seq: Number(row.seq) };
    const moved = head.seq - Number(row.last_seq);
    const intervalPassed =
      row.unverifiable || now.getTime() - Number(row.since) >= config.checkpointIntervalMs;
    if (moved < config.checkpointEvery && !intervalPassed) continue;
    // The head as it is now (it may have moved since the query above) with its tree's root,
    // the stored tree filled up to it first (before signing, never after).
    const current = await headWithRoot(db, head.merchantId);
    const last = current.lastCheckpointSeq;
    if (row.unverifiable && current.seq === last) {
      created += (await resign(services, current)).length;
      continue;
    }
    // At least every `checkpointEvery` receipts (SPEC §6), however fast the log grows between
    // two runs: one checkpoint at each such step past the last, then the head when it is due.
    const steps: number[] = [];
    for (let seq = last + config.checkpointEvery; seq < current.seq; seq += config.checkpointEvery)
      steps.push(seq);
    const headDue =
      current.seq - (steps.at(-1) ?? last) >= config.checkpointEvery || intervalPassed;
    const targets = [];
    for (const seq of steps) targets.push(await entryWithRoot(db, head.merchantId, seq));
    if (headDue) targets.push(current);
    for (const target of targets) {
      // Signed outside the chain lock (KMS may be slow), committed under it while that key is
      // still the merchant's active one.
      const inserted = await keyRing.signWithCurrentKey(
        head.merchantId,
        (signer, at) => signCheckpoint(target, signer, at),
        (tx, row) =>
          tx
            .insert(checkpoints)
            .values(row)
            .onConflictDoNothing()
            .returning({ seq: checkpoints.seq }),
      );
      created += inserted.length;
    }
  }
  return created;
}

/**
 * The checkpoint at `head.seq` signed again by the current key, in place of one whose key was
 * revoked as of its createdAt (only while it still is such a one: racing schedulers replace
 * it once). It is timestamped afresh.
 */
function resign(services: Services, head: HeadWithRoot): Promise<{ seq: number }[]> {
  return services.keyRing.signWithCurrentKey(
    head.merchantId,
    (signer, at) => signCheckpoint(head, signer, at),
    (tx, row) =>
      tx
        .update(checkpoints)
        .set({ ...row, timestamp: null, attempts: 0, leasedUntil: null, lastError: null })
        .where(
          and(
            eq(checkpoints.merchantId, head.merchantId),
            eq(checkpoints.seq, head.seq),
            sql.raw(signedByRevokedKey('checkpoints')),
          ),
        )
        .returning({ seq: checkpoints.seq }),
  );
}

import { checkpoints, rowsOf } from '@quittance/db';
import { sql } from 'drizzle-orm';
import type { Services } from '../services';
import { entryWithRoot, headWithRoot, signCheckpoint } from '../transparency/checkpoint-signing';

interface HeadRow {
  merchant_id: string;
  seq: string;
  last_seq: string;
  since: string | number;
}

/**
 * Signs a checkpoint of each merchant's chain head that moved by `checkpointEvery` receipts,
 * or that moved at all and whose last checkpoint is `checkpointIntervalMs` old (SPEC §6);
 * a head that moved further than `checkpointEvery` also gets one at every such step.
 * Racing schedulers insert the same (merchant, seq) once.
 */
export async function createDueCheckpoints(services: Services): Promise<number> {
  const { db, config, keyRing } = services;
  const now = services.clock();
  const result = await db.execute(sql`
    select h.merchant_id, h.seq::text as seq, coalesce(c.seq, 0)::text as last_seq,
      extract(epoch from coalesce(c.created_at, m.created_at)) * 1000 as since
    from chain_heads h
    join merchants m on m.id = h.merchant_id
    left join lateral (
      select seq, created_at from checkpoints where merchant_id = h.merchant_id order by seq desc limit 1
    ) c on true
    where h.seq > coalesce(c.seq, 0)`);
  let created = 0;
  for (const row of rowsOf<HeadRow>(result)) {
    const head = { merchantId: row.merchant_id, seq: Number(row.seq) };
    const moved = head.seq - Number(row.last_seq);
    if (
      moved < config.checkpointEvery &&
      now.getTime() - Number(row.since) < config.checkpointIntervalMs
    )
      continue;
    // The head as it is now (it may have moved since the query above) with its tree's root,
    // the stored tree filled up to it first (before signing, never after).
    const current = await headWithRoot(db, head.merchantId);
    // At least every `checkpointEvery` receipts (SPEC §6), however fast the log grows between
    // two runs: one checkpoint at each such step past the last, then the head when it is due.
    const last = current.lastCheckpointSeq;
    const steps: number[] = [];
    for (let seq = last + config.checkpointEvery; seq < current.seq; seq += config.checkpointEvery)
      steps.push(seq);
    const headDue =
      current.seq - (steps.at(-1) ?? last) >= config.checkpointEvery ||
      now.getTime() - Number(row.since) >= config.checkpointIntervalMs;
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

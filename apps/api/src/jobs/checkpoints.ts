import { checkpoints, rowsOf } from '@quittance/db';
import { rootFromFrontier } from '@quittance/format';
import { sql } from 'drizzle-orm';
import type { Services } from '../services';
import { signCheckpoint } from '../transparency/checkpoint-signing';
import { entriesThrough, frontierAt } from '../transparency/frontier';
import { LogTree } from '../transparency/log-tree';

interface HeadRow {
  merchant_id: string;
  seq: string;
  entry_hash: string;
  frontier: string;
  last_seq: string;
  since: string | number;
}

/**
 * Signs a checkpoint of each merchant's chain head that moved by `checkpointEvery` receipts,
 * or that moved at all and whose last checkpoint is `checkpointIntervalMs` old (SPEC §6).
 * Racing schedulers insert the same (merchant, seq) once.
 */
export async function createDueCheckpoints(services: Services): Promise<number> {
  const { db, config, keyRing } = services;
  const now = services.clock();
  const result = await db.execute(sql`
    select h.merchant_id, h.seq::text as seq, h.entry_hash, array_to_json(h.frontier)::text as frontier,
      coalesce(c.seq, 0)::text as last_seq,
      extract(epoch from coalesce(c.created_at, m.created_at)) * 1000 as since
    from chain_heads h
    join merchants m on m.id = h.merchant_id
    left join lateral (
      select seq, created_at from checkpoints where merchant_id = h.merchant_id order by seq desc limit 1
    ) c on true
    where h.seq > coalesce(c.seq, 0)`);
  let created = 0;
  for (const row of rowsOf<HeadRow>(result)) {
    const head = { merchantId: row.merchant_id, seq: Number(row.seq), entryHash: row.entry_hash };
    const moved = head.seq - Number(row.last_seq);
    if (
      moved < config.checkpointEvery &&
      now.getTime() - Number(row.since) < config.checkpointIntervalMs
    )
      continue;
    // The head's seq, entryHash and frontier were read together: rootHash is of that tree.
    const frontier = await frontierAt(
      head.seq,
      JSON.parse(row.frontier),
      entriesThrough(db, head.merchantId, head.seq),
    );
    const rootHash = await rootFromFrontier(frontier);
    // Signed outside the chain lock (KMS may be slow), committed under it while that key is
    // still the merchant's active one.
    const inserted = await keyRing.signWithCurrentKey(
      head.merchantId,
      (signer, at) => signCheckpoint({ ...head, rootHash }, signer, at),
      (tx, row) =>
        tx
          .insert(checkpoints)
          .values(row)
          .onConflictDoNothing()
          .returning({ seq: checkpoints.seq }),
    );
    created += inserted.length;
    // Store the new complete subtrees now, so a proof never has to compute them on request.
    await new LogTree(db).fill(head.merchantId, head.seq);
  }
  return created;
}

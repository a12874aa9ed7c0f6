import { checkpoints, pendingTimestamps } from '@quittance/db';
import type { JobQueue } from '@quittance/jobs';
import { and, asc, isNull, lte, sql } from 'drizzle-orm';
import { leaseIsFree } from '../lease';
import type { Services } from '../services';

/** Most work items added to the queue per sweep; the next sweep takes the rest. */
const SWEEP_LIMIT = 2_000;

/**
 * Adds to the queue every timestamp that is due according to PostgreSQL, whatever the queue
 * remembers: after a crash, a Redis outage or a lost job, the work is found here again. Job
 * ids deduplicate what is already queued; leases stop two workers from asking twice.
 */
export async function sweep(services: Services, queue: JobQueue): Promise<number> {
  const exportIds = await services.exports.due();
  await Promise.all(
    exportIds.map((exportId) =>
      queue.add('build-export', { exportId }, { jobId: `exp-${exportId}` }),
    ),
  );
  if (!services.timestamper) return exportIds.length;
  const now = sql`now()`;
  const due = await services.db
    .select({ receiptId: pendingTimestamps.receiptId })
    .from(pendingTimestamps)
    .where(
      and(lte(pendingTimestamps.nextAttemptAt, now), leaseIsFree(pendingTimestamps.leasedUntil)),
    )
    .orderBy(asc(pendingTimestamps.nextAttemptAt))
    .limit(SWEEP_LIMIT);
  const dueCheckpoints = await services.db
    .select({ merchantId: checkpoints.merchantId, seq: checkpoints.seq })
    .from(checkpoints)
    .where(
      and(
        isNull(checkpoints.timestamp),
        lte(checkpoints.nextAttemptAt, now),
        leaseIsFree(checkpoints.leasedUntil),
      ),
    )
    .limit(SWEEP_LIMIT);
  await Promise.all([
    ...due.map(({ receiptId }) =>
      queue.add('timestamp-receipt', { receiptId }, { jobId: `tsr-${receiptId}` }),
    ),
    ...dueCheckpoints.map(({ merchantId, seq }) =>
      queue.add('timestamp-checkpoint', { merchantId, seq }, { jobId: `tsc-${merchantId}-${seq}` }),
    ),
  ]);
  return exportIds.length + due.length + dueCheckpoints.length;
}

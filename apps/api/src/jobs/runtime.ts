import { InProcessQueue, type JobQueue } from '@quittance/jobs';
import { describeError } from '../describe-error';
import { deleteExpiredBundles } from '../exports/retention';
import { rotateDueKeys } from '../keys/rotation';
import type { Services } from '../services';
import { timestampCheckpoint, timestampReceipt } from '../timestamps/timestamp-work';
import { destroyExpiredKeys } from '../vault/retention';
import { createDueCheckpoints } from './checkpoints';
import { sweep } from './sweep';
import { removeUnfinishedWrites } from './unfinished-writes';

/** How often the cheap periodic checks run. */
const CHECKPOINT_CHECK_MS = 5_000;
const SNAPSHOT_CHECK_MS = 60_000;
const ROTATION_CHECK_MS = 10 * 60_000;
/** Retention runs daily; it is idempotent, so an extra run is harmless. */
const RETENTION_CHECK_MS = 24 * 3600_000;
/** How often unfinished writes left by killed processes are looked for. */
const UNFINISHED_CHECK_MS = 10 * 60_000;

export interface JobRuntime {
  queue: JobQueue;
  close(): Promise<void>;
}

/** BullMQ when REDIS_URL is set (loaded only then), else the in-process queue of `npm start`. */
export async function createQueue(services: Services, name?: string): Promise<JobQueue> {
  const onError = (error: unknown, job: { name: string; id: string; attempt: number }) =>
    services.logger.warn(
      { job: job.name, jobId: job.id, attempt: job.attempt, err: describeError(error) },
      'job failed',
    );
  if (!services.config.redisUrl) return new InProcessQueue(undefined, onError);
  const { BullMqQueue } = await import('@quittance/jobs/bullmq');
  return new BullMqQueue({
    redisUrl: services.config.redisUrl,
    name: name ?? services.config.queueName,
    onError,
    onRedisError: (error) =>
      services.logger.warn(
        { err: describeError(error) },
        'Redis (REDIS_URL) does not answer; retrying, and jobs wait',
      ),
  });
}

/**
 * Runs the background work of SPEC §4–6 on a queue: RFC 3161 timestamps of receipts and
 * checkpoints, checkpoints, monthly snapshots and quarterly rotation. Schedules are
 * registered once per queue (BullMQ job schedulers), so several workers do not duplicate them.
 */
export async function startJobs(services: Services, queue: JobQueue): Promise<JobRuntime> {
  const { timestamper, config } = services;
  services.metrics.watchQueue(queue);
  queue.process(
    {
      sweep: async () => {
        await sweep(services, queue);
      },
      'timestamp-receipt': async (data) => {
        if (!timestamper) return;
        await timestampReceipt(services, timestamper, (data as { receiptId: string }).receiptId);
      },
      'timestamp-checkpoint': async (data) => {
        if (!timestamper) return;
        const { merchantId, seq } = data as { merchantId: string; seq: number };
        await timestampCheckpoint(services, timestamper, merchantId, seq);
      },
      checkpoints: async () => {
        await createDueCheckpoints(services);
      },
      snapshots: async () => {
        await services.snapshots.ensure(services.db, services.clock());
      },
      'build-export': async (data) => {
        await services.exports.build((data as { exportId: string }).exportId);
      },
      retention: async () => {
        const destroyed = await destroyExpiredKeys(services);
        if (destroyed.length) services.logger.info({ destroyed }, 'retention destroyed vault keys');
        const bundles = await deleteExpiredBundles(services);
        if (bundles.length) services.logger.info({ bundles }, 'retention deleted export bundles');
      },
      'unfinished-writes': async () => {
        const removed = await removeUnfinishedWrites(services);
        if (removed.bundles || removed.keyFiles)
          services.logger.info(removed, 'unfinished writes of killed processes removed');
      },
      rotation: async () => {
        const rotated = await rotateDueKeys(services);
        if (rotated.length) services.logger.info({ rotated }, 'quarterly rotation');
      },
    },
    { concurrency: config.tsaConcurrency },
  );
  await queue.schedule('sweep', config.sweepIntervalMs);
  await queue.schedule('checkpoints', Math.min(CHECKPOINT_CHECK_MS, config.checkpointIntervalMs));
  await queue.schedule('snapshots', SNAPSHOT_CHECK_MS);
  await queue.schedule('rotation', ROTATION_CHECK_MS);
  await queue.schedule('retention', RETENTION_CHECK_MS);
  await queue.schedule('unfinished-writes', UNFINISHED_CHECK_MS);
  return { queue, close: () => queue.close() };
}

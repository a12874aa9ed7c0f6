// BullMqQueue is '@quittance/jobs/bullmq': importing this entry must not load BullMQ and
// ioredis (about 18 MB resident), which `npm start` without Redis never uses.
export type { BullMqQueue, BullMqQueueOptions } from './bullmq-queue';
export { InProcessQueue } from './in-process-queue';
export type {
  AddOptions,
  JobContext,
  JobHandler,
  JobQueue,
  QueueCounts,
  RetryPolicy,
} from './queue';
export { backoffMs, DEFAULT_RETRY, PermanentJobError } from './queue';

export type { BullMqQueueOptions } from './bullmq-queue';
export { BullMqQueue } from './bullmq-queue';
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

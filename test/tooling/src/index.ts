export type { TestBrowser } from './browser';
export { CHROMIUM, launchBrowser } from './browser';
export type { FlakyProxy } from './flaky-proxy';
export { startFlakyProxy } from './flaky-proxy';
export type { KmsFaults, KmsTestServer } from './kms-server';
export { startKmsServer } from './kms-server';
export type { OwnPostgres } from './own-postgres';
export { startOwnPostgres } from './own-postgres';
export type { TestDatabase } from './postgres';
export { createTestDatabase, TEST_POSTGRES_URL } from './postgres';
export type { Spawned } from './processes';
export { freePort, spawnProcess, until } from './processes';
export type { RawEntry } from './raw-zip';
export { rawZip, zeroBomb } from './raw-zip';
export type { HistoryKeyInput, ReceiptOptions } from './receipt-factory';
export {
  makeReceipt,
  makeRevocation,
  makeSnapshot,
  publisherJwks,
  toSnapshotKey,
} from './receipt-factory';
export type { OwnRedis } from './redis';
export { startOwnRedis, TEST_REDIS_URL } from './redis';
export type { S3TestServer } from './s3-server';
export { startS3Server } from './s3-server';
export type { TsaMode, TsaTestServer } from './tsa-server';
export { startTsaServer } from './tsa-server';

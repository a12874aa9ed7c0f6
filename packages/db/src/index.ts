export type { Database, Db, OpenDatabaseOptions, RawQuery, Schema, Tx } from './client';
export { openDatabase } from './client';
export { EMBEDDED_STALL_MS } from './embedded';
export type { MigrationResult } from './migrate';
export { MIGRATIONS_DIR, migrate, rowsOf } from './migrate';
export { rawQueryOver } from './raw-query';
export {
  apiKeys,
  chainHeads,
  checkpoints,
  exports,
  keySnapshots,
  logSubtrees,
  merchants,
  pendingTimestamps,
  receiptBodies,
  receipts,
  signingKeys,
  vaultKeys,
  wrappedKeys,
} from './schema';
export { OuterHandleInTransactionError } from './transaction-guard';

import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { Platform } from '../platform';
import { NodeReceiptPool } from './receipt-pool';
import { YauzlZipReader } from './yauzl-zip';

/** Node: yauzl and zlib for zips, OpenSSL for SHA-256, worker threads for receipts. */
export const platform: Platform = {
  openZipFile: (path, limits) => YauzlZipReader.open(path, limits),
  sha256() {
    const hash = createHash('sha256');
    return {
      update: (bytes) => {
        hash.update(bytes);
      },
      hex: () => hash.digest('hex'),
    };
  },
  // One worker per core but one: the main thread verifies batches too (NodeReceiptPool).
  defaultWorkers: () => Math.max(1, availableParallelism() - 1),
  receiptPool: (init, size, local) => new NodeReceiptPool(init, size, local),
};

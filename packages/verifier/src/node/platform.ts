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
  defaultWorkers: () => availableParallelism(),
  receiptPool: (init, size) => new NodeReceiptPool(init, size),
};

import type { BundleLimits } from './bundle/limits';
import type { LocalVerifier, ReceiptPool, WorkerInit } from './bundle/work';
import type { ZipReader } from './zip/zip-reader';

/**
 * What the verifier needs of its runtime, with one implementation per runtime: `#platform`
 * resolves to `node/platform.ts` under Node and to `web/platform.ts` elsewhere (package.json
 * `imports`). Only `node/` may import `node:` modules, so a browser build never sees them.
 */
export interface Platform {
  /** Opens a zip file by its path (Node); elsewhere a bundle comes as a Blob or bytes. */
  openZipFile(path: string, limits: BundleLimits): Promise<ZipReader>;
  /** An incremental SHA-256 (a bundle's files are hashed as they stream). */
  sha256(): IncrementalHash;
  /** Threads that verify receipts of a large bundle when the caller does not say (0: inline). */
  defaultWorkers(): number;
  /**
   * Verifies receipts on `size` threads, the calling thread helping with `local`; undefined
   * where the runtime has no threads to offer.
   */
  receiptPool(init: WorkerInit, size: number, local: LocalVerifier): ReceiptPool | undefined;
}

export interface IncrementalHash {
  update(bytes: Uint8Array): void;
  /** Lowercase hex of the digest; the hash cannot be updated after. */
  hex(): string;
}

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { BundleError } from '../bundle/errors';
import type { Platform } from '../platform';

/**
 * Browsers and other runtimes. A bundle comes as a Blob or bytes (PortableZipReader), never
 * by path. Files are hashed incrementally with @noble/hashes: WebCrypto's digest takes a whole
 * buffer, and a bundle's receipts.jsonl can be hundreds of MB. Receipts are verified inline;
 * a page runs the whole verification in a Web Worker.
 */
export const platform: Platform = {
  openZipFile: async (path) => {
    throw new BundleError(
      'unreadable',
      `${path}: a path can be opened only under Node; give the bundle as a Blob, File or Uint8Array`,
    );
  },
  sha256() {
    const hash = sha256.create();
    return {
      update: (bytes) => {
        hash.update(bytes);
      },
      hex: () => bytesToHex(hash.digest()),
    };
  },
  defaultWorkers: () => 0,
  receiptPool: () => undefined,
};

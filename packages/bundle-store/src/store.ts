import type { Readable, Writable } from 'node:stream';
import { BundleStoreError } from './errors';

/** A stored bundle. */
export interface BundleInfo {
  key: string;
  bytes: number;
  lastModified: Date;
}

/** A bundle being opened for download. */
export interface BundleDownload {
  stream: Readable;
  bytes: number;
}

/**
 * A bundle being written. Nothing is visible at its key until {@link commit} succeeds, so a
 * reader never sees half a bundle, and a writer that dies leaves at most an unfinished upload
 * or a hidden temporary file (see {@link BundleStore.sweepIncomplete}).
 */
export interface BundleWrite {
  /**
   * Where the zip goes, with back-pressure from the store. A store failure destroys it with a
   * {@link BundleStoreError}, so the producer stops; 'close' follows the producer's end().
   */
  readonly stream: Writable;
  /**
   * Makes the bundle visible at its key once the stream has ended, waiting for the last bytes
   * to be stored. Rejects with `write_incomplete` when the stream did not end cleanly, with
   * the store's error when it failed; after a rejection, call {@link abort}.
   */
  commit(): Promise<BundleInfo>;
  /**
   * Drops the write (the stream, the temporary file or the multipart upload). Never throws:
   * what an unreachable store keeps is left for {@link BundleStore.sweepIncomplete} and, on
   * S3, the bucket's rule on incomplete uploads. Does nothing after a commit.
   */
  abort(): Promise<void>;
}

/** Where export bundles live: the data folder or S3. The rest of the code never knows which. */
export interface BundleStore {
  /** For logs: `file:///…/exports` or `s3://bucket/prefix`. */
  readonly location: string;
  /** Starts writing the bundle `key`; a bundle already there stays until the commit. */
  create(key: string): Promise<BundleWrite>;
  /** Opens `key` for download; `not_found` when there is none. */
  open(key: string): Promise<BundleDownload>;
  /** The bundle's size and date, or null when there is none. */
  stat(key: string): Promise<BundleInfo | null>;
  exists(key: string): Promise<boolean>;
  /** Deletes `key`; deleting what is not there is not an error. */
  delete(key: string): Promise<void>;
  /** The bundles whose key starts with `prefix` (S3: in key order). */
  list(prefix?: string): AsyncIterable<BundleInfo>;
  /**
   * A short-lived URL from which a client downloads `key` directly, when the store has one
   * and was configured to give it (S3 with a URL lifetime); null otherwise (stream instead).
   * `not_found` when there is no bundle.
   */
  downloadUrl(key: string, options?: { filename?: string }): Promise<string | null>;
  /**
   * Removes what writers that died left behind: multipart uploads begun (or temporary files
   * last written) before `before`. Returns how many. Call it with a cut-off at least
   * {@link abandonedAfterMs} ago.
   */
  sweepIncomplete(before: Date): Promise<number>;
  /**
   * How old an unfinished write is once no live writer can own it, as this store dates it:
   * a temporary file by its last write (a live build writes as it goes), an upload by its
   * start (a build may take minutes).
   */
  readonly abandonedAfterMs: number;
  /** Releases connections. */
  close(): Promise<void>;
}

const SEGMENT = /^[A-Za-z0-9_%~:-][A-Za-z0-9._%~:-]{0,199}$/;

/**
 * Keys are `/`-separated segments of `[A-Za-z0-9._%~:-]`, none starting with a dot (so no
 * `.` or `..`, and the local store's hidden temporary files never collide with a key).
 */
export function assertBundleKey(key: string): void {
  if (key.length > 512 || !key.split('/').every((segment) => SEGMENT.test(segment)))
    throw new BundleStoreError(
      'invalid_key',
      `bundle key ${JSON.stringify(key.slice(0, 80))} is not /-separated segments of [A-Za-z0-9._%~:-] that do not start with a dot`,
    );
}

/** A key prefix: empty, or segments as in keys ending with `/`, or a partial last segment. */
export function assertBundlePrefix(prefix: string): void {
  if (prefix === '') return;
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  assertBundleKey(trimmed);
}

/** One key segment from an identifier: percent-encoded, and a leading dot too. */
function toSegment(value: string): string {
  return encodeURIComponent(value).replace(/^\./, '%2E');
}

/**
 * The key of an export bundle: `<jurisdiction>/<merchantId>/<exportId>.zip`. The jurisdiction
 * comes first so that an S3 lifecycle rule per jurisdiction prefix can expire bundles after
 * that jurisdiction's retention (infra/aws), as a backstop to the retention job.
 */
export function bundleKey(bundle: {
  jurisdiction: string;
  merchantId: string;
  exportId: string;
}): string {
  const key = `${toSegment(bundle.jurisdiction)}/${toSegment(bundle.merchantId)}/${toSegment(bundle.exportId)}.zip`;
  assertBundleKey(key);
  return key;
}

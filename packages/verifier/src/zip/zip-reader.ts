import { BundleError } from '../bundle/errors';
import { type BundleLimits, formatBytes } from '../bundle/limits';

/** What the central directory says of one entry. */
export interface ZipEntryInfo {
  name: string;
  /** The uncompressed size the central directory declares. */
  declaredBytes: number;
}

/**
 * A zip opened for verification, whatever holds it (a file under Node, a Blob or bytes in a
 * browser). Opening reads the central directory and refuses, before anything is inflated, a zip
 * that declares more than its {@link BundleLimits}; every entry then streams under running caps
 * (a size field can lie). Every failure is a {@link BundleError}.
 */
export interface ZipReader {
  /** Entries by name, directories left out; a name that occurs twice keeps its last entry. */
  readonly entries: ReadonlyMap<string, ZipEntryInfo>;
  /** Names that occur more than once: zip tools disagree on which one they show. */
  readonly duplicates: readonly string[];
  /**
   * Entries whose local header contradicts the central directory (name, method or sizes):
   * tools that read the local headers would show something else.
   */
  readonly disagreements: readonly string[];
  /** The inflated bytes of an entry, as they stream. */
  chunks(name: string): AsyncIterable<Uint8Array>;
  close(): void;
}

/** One central directory record, as much of it as the caps are decided from. */
export interface DeclaredEntry {
  name: string;
  uncompressedSize: number;
  compressionMethod: number;
  encrypted: boolean;
}

/** The caps' first check, on what the central directory declares (a message, or undefined). */
export function declaredEntryCount(count: number, limits: BundleLimits): string | undefined {
  return count > limits.maxEntries
    ? `the zip declares ${count} entries; the limit is ${limits.maxEntries}`
    : undefined;
}

/**
 * Checks each entry of the central directory in turn, as it is read: declared sizes under the
 * caps, stored or deflate only. Throws {@link BundleError} with `label` in front.
 */
export class DeclaredSizes {
  #declared = 0;

  constructor(
    private readonly label: string,
    private readonly limits: BundleLimits,
  ) {}

  check(entry: DeclaredEntry): void {
    const fail = (code: 'too_large' | 'unreadable', message: string) => {
      throw new BundleError(code, `${this.label}: ${message}`);
    };
    if (entry.uncompressedSize > this.limits.maxEntryBytes)
      fail(
        'too_large',
        `entry ${entry.name} declares ${formatBytes(entry.uncompressedSize)}; the limit per entry is ${formatBytes(this.limits.maxEntryBytes)}`,
      );
    this.#declared += entry.uncompressedSize;
    if (this.#declared > this.limits.maxTotalBytes)
      fail(
        'too_large',
        `the entries declare more than ${formatBytes(this.limits.maxTotalBytes)} in all (the limit)`,
      );
    if (entry.encrypted || (entry.compressionMethod !== 0 && entry.compressionMethod !== 8))
      fail(
        'unreadable',
        `entry ${entry.name} is encrypted or uses compression method ${entry.compressionMethod} (only stored and deflate are read)`,
      );
  }
}

/**
 * The running caps: bytes inflated per entry and in all (each entry counted on its first read
 * only), checked as every chunk arrives, so a zip bomb stops within one chunk of its cap.
 */
export class InflationBudget {
  #inflated = 0;
  readonly #counted = new Set<string>();

  constructor(readonly limits: BundleLimits) {}

  /** A counter for one read of `name`: call it with each chunk's size; it throws past a cap. */
  reading(name: string): (bytes: number) => void {
    const first = !this.#counted.has(name);
    this.#counted.add(name);
    let entryBytes = 0;
    return (bytes) => {
      entryBytes += bytes;
      if (entryBytes > this.limits.maxEntryBytes)
        throw new BundleError(
          'too_large',
          `${name} inflates to more than ${formatBytes(this.limits.maxEntryBytes)} (the limit per entry)`,
        );
      if (!first) return;
      this.#inflated += bytes;
      if (this.#inflated > this.limits.maxTotalBytes)
        throw new BundleError(
          'too_large',
          `the entries inflate to more than ${formatBytes(this.limits.maxTotalBytes)} in all (the limit)`,
        );
    };
  }
}

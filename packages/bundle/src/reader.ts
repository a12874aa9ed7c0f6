import type { Readable } from 'node:stream';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { BundleError } from './errors';
import { type BundleLimits, DEFAULT_LIMITS, formatBytes } from './limits';

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Random access to a zip's entries without loading it: the central directory, then streams.
 * Hostile zips are refused before anything is inflated when their declared sizes exceed the
 * caps, and every byte inflated is counted against the same caps while it streams (a size
 * field can lie; yauzl also stops an entry that inflates past its declared size).
 */
export class BundleReader {
  /** Bytes inflated so far, each entry counted on its first read only. */
  #inflated = 0;
  readonly #counted = new Set<string>();
  #failure: Error | undefined;

  private constructor(
    private readonly zip: ZipFile,
    readonly entries: ReadonlyMap<string, Entry>,
    /** Names that occur more than once: zip tools disagree on which one they show. */
    readonly duplicates: readonly string[],
    /**
     * Entries whose local header contradicts the central directory (name, method or sizes):
     * tools that read the local headers would show something else.
     */
    readonly disagreements: readonly string[],
    readonly limits: BundleLimits,
  ) {
    // Errors of the underlying file after the directory was read reach the next read.
    zip.on('error', (error: Error) => {
      this.#failure = error;
    });
  }

  /**
   * Opens a zip and reads its central directory. Throws {@link BundleError} when the file is
   * not a readable zip or declares more than `limits` allow.
   */
  static open(path: string, limits: Partial<BundleLimits> = {}): Promise<BundleReader> {
    const caps: BundleLimits = { ...DEFAULT_LIMITS, ...limits };
    return new Promise((resolve, reject) => {
      yauzl.open(
        path,
        { lazyEntries: true, autoClose: false, validateEntrySizes: true },
        (error, zip) => {
          if (error || !zip)
            return reject(
              new BundleError('unreadable', `${path} is not a readable zip: ${messageOf(error)}`, {
                cause: error,
              }),
            );
          let settled = false;
          const fail = (code: 'unreadable' | 'too_large', message: string, cause?: unknown) => {
            if (settled) return;
            settled = true;
            zip.close();
            reject(new BundleError(code, `${path}: ${message}`, { cause }));
          };
          if (zip.entryCount > caps.maxEntries)
            return fail(
              'too_large',
              `the zip declares ${zip.entryCount} entries; the limit is ${caps.maxEntries}`,
            );
          const entries = new Map<string, Entry>();
          const duplicates: string[] = [];
          const all: Entry[] = [];
          let declared = 0;
          zip.on('entry', (entry: Entry) => {
            if (entry.uncompressedSize > caps.maxEntryBytes)
              return fail(
                'too_large',
                `entry ${entry.fileName} declares ${formatBytes(entry.uncompressedSize)}; the limit per entry is ${formatBytes(caps.maxEntryBytes)}`,
              );
            declared += entry.uncompressedSize;
            if (declared > caps.maxTotalBytes)
              return fail(
                'too_large',
                `the entries declare more than ${formatBytes(caps.maxTotalBytes)} in all (the limit)`,
              );
            if (
              entry.isEncrypted() ||
              (entry.compressionMethod !== 0 && entry.compressionMethod !== 8)
            )
              return fail(
                'unreadable',
                `entry ${entry.fileName} is encrypted or uses compression method ${entry.compressionMethod} (only stored and deflate are read)`,
              );
            all.push(entry);
            if (!entry.fileName.endsWith('/')) {
              if (entries.has(entry.fileName)) duplicates.push(entry.fileName);
              entries.set(entry.fileName, entry);
            }
            zip.readEntry();
          });
          zip.once('end', () => {
            if (settled) return;
            localDisagreements(zip, all).then(
              (disagreements) => {
                if (settled) return;
                settled = true;
                resolve(new BundleReader(zip, entries, duplicates, disagreements, caps));
              },
              (cause: Error) => fail('unreadable', `not a readable zip: ${cause.message}`, cause),
            );
          });
          zip.on('error', (cause: Error) =>
            fail('unreadable', `not a readable zip: ${cause.message}`, cause),
          );
          zip.readEntry();
        },
      );
    });
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /**
   * The inflated bytes of an entry, as they stream. Throws {@link BundleError} when the entry
   * cannot be inflated, inflates to other than its declared size, or passes a cap.
   */
  async *chunks(name: string): AsyncGenerator<Buffer> {
    const entry = this.entries.get(name);
    if (!entry) throw new BundleError('unreadable', `${name} is not in the bundle`);
    if (this.#failure)
      throw new BundleError('unreadable', `the zip cannot be read: ${this.#failure.message}`);
    let stream: Readable;
    try {
      stream = await new Promise<Readable>((resolve, reject) =>
        this.zip.openReadStream(entry, (error, opened) =>
          error || !opened ? reject(error ?? new Error('no stream')) : resolve(opened),
        ),
      );
    } catch (error) {
      throw new BundleError('unreadable', `${name} cannot be read: ${messageOf(error)}`, {
        cause: error,
      });
    }
    const first = !this.#counted.has(name);
    this.#counted.add(name);
    let bytes = 0;
    try {
      for await (const chunk of stream) {
        const buffer = chunk as Buffer;
        bytes += buffer.length;
        if (bytes > this.limits.maxEntryBytes)
          throw new BundleError(
            'too_large',
            `${name} inflates to more than ${formatBytes(this.limits.maxEntryBytes)} (the limit per entry)`,
          );
        if (first) {
          this.#inflated += buffer.length;
          if (this.#inflated > this.limits.maxTotalBytes)
            throw new BundleError(
              'too_large',
              `the entries inflate to more than ${formatBytes(this.limits.maxTotalBytes)} in all (the limit)`,
            );
        }
        yield buffer;
      }
    } catch (error) {
      if (error instanceof BundleError) throw error;
      throw new BundleError('unreadable', `${name} cannot be inflated: ${messageOf(error)}`, {
        cause: error,
      });
    } finally {
      stream.destroy();
    }
  }

  /** A whole entry (small files only: a caller that can should stream {@link chunks}). */
  async read(name: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const chunk of this.chunks(name)) parts.push(chunk);
    return Buffer.concat(parts);
  }

  close(): void {
    this.zip.close();
  }
}

/** What each entry's local header says that its central directory record does not. */
async function localDisagreements(zip: ZipFile, entries: Entry[]): Promise<string[]> {
  const found: string[] = [];
  for (const entry of entries) {
    const local = await zip.readLocalFileHeaderPromise(entry);
    const differs: string[] = [];
    if (!local.fileName.equals(entry.fileNameRaw))
      differs.push(`name ${JSON.stringify(local.fileName.toString('latin1'))}`);
    if (local.compressionMethod !== entry.compressionMethod)
      differs.push(`compression method ${local.compressionMethod}`);
    // With a data descriptor (flag bit 3) the local sizes are zero; otherwise the central ones.
    const deferred = (local.generalPurposeBitFlag & 0x08) !== 0;
    for (const field of ['compressedSize', 'uncompressedSize'] as const) {
      const size = local[field];
      const central = entry[field] >= 0xffffffff ? 0xffffffff : entry[field];
      if (!(size === central || (deferred && size === 0)) && size !== 0xffffffff)
        differs.push(`${field} ${size}`);
    }
    if (differs.length)
      found.push(`${entry.fileName}: its local header says ${differs.join(', ')}`);
  }
  return found;
}

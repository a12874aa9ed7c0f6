import { close, fstat, open, read } from 'node:fs';
import { Readable } from 'node:stream';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { BundleError } from '../bundle/errors';
import { messageOf } from '../bundle/json';
import type { BundleLimits } from '../bundle/limits';
import {
  DeclaredSizes,
  declaredEntryCount,
  InflationBudget,
  type ZipEntryInfo,
  type ZipReader,
} from '../zip/zip-reader';

/**
 * A zip file read with yauzl (Node): random access to the entries without loading the file,
 * inflated by Node's zlib. yauzl also stops an entry that inflates past its declared size.
 */
export class YauzlZipReader implements ZipReader {
  readonly entries: ReadonlyMap<string, ZipEntryInfo>;
  readonly #budget: InflationBudget;
  #failure: Error | undefined;

  private constructor(
    private readonly zip: ZipFile,
    private readonly raw: ReadonlyMap<string, Entry>,
    readonly duplicates: readonly string[],
    readonly disagreements: readonly string[],
    limits: BundleLimits,
  ) {
    this.entries = new Map(
      [...raw].map(([name, entry]) => [name, { name, declaredBytes: entry.uncompressedSize }]),
    );
    this.#budget = new InflationBudget(limits);
    // Errors of the underlying file after the directory was read reach the next read.
    zip.on('error', (error: Error) => {
      this.#failure = error;
    });
  }

  /**
   * Opens a zip file and reads its central directory. Throws {@link BundleError} when the file
   * is not a readable zip or declares more than `limits` allow.
   */
  static async open(path: string, limits: BundleLimits): Promise<YauzlZipReader> {
    const notAZip = (error: unknown) =>
      new BundleError('unreadable', `${path} is not a readable zip: ${messageOf(error)}`, {
        cause: error,
      });
    let file: ZipFileBytes;
    try {
      file = await ZipFileBytes.open(path);
    } catch (error) {
      throw notAZip(error);
    }
    return new Promise((resolve, reject) => {
      yauzl.fromRandomAccessReader(
        file,
        file.size,
        { lazyEntries: true, autoClose: false, validateEntrySizes: true },
        (error, zip) => {
          if (error || !zip) {
            file.close(() => {});
            return reject(notAZip(error));
          }
          let settled = false;
          const fail = (failure: BundleError) => {
            if (settled) return;
            settled = true;
            zip.close();
            reject(failure);
          };
          const unreadable = (cause: Error) =>
            fail(
              new BundleError('unreadable', `${path}: not a readable zip: ${cause.message}`, {
                cause,
              }),
            );
          // Called from yauzl's callbacks, where a throw would end the process.
          const next = () => {
            try {
              zip.readEntry();
            } catch (error) {
              unreadable(error instanceof Error ? error : new Error(String(error)));
            }
          };
          const tooMany = declaredEntryCount(zip.entryCount, limits);
          if (tooMany) return fail(new BundleError('too_large', `${path}: ${tooMany}`));
          const declared = new DeclaredSizes(path, limits);
          const entries = new Map<string, Entry>();
          const duplicates: string[] = [];
          const all: Entry[] = [];
          zip.on('entry', (entry: Entry) => {
            try {
              declared.check({
                name: entry.fileName,
                uncompressedSize: entry.uncompressedSize,
                compressionMethod: entry.compressionMethod,
                encrypted: entry.isEncrypted(),
              });
            } catch (failure) {
              return fail(failure as BundleError);
            }
            all.push(entry);
            if (!entry.fileName.endsWith('/')) {
              if (entries.has(entry.fileName)) duplicates.push(entry.fileName);
              entries.set(entry.fileName, entry);
            }
            next();
          });
          zip.once('end', () => {
            if (settled) return;
            localDisagreements(zip, all).then((disagreements) => {
              if (settled) return;
              settled = true;
              resolve(new YauzlZipReader(zip, entries, duplicates, disagreements, limits));
            }, unreadable);
          });
          zip.on('error', unreadable);
          next();
        },
      );
    });
  }

  async *chunks(name: string): AsyncGenerator<Uint8Array> {
    const entry = this.raw.get(name);
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
    const count = this.#budget.reading(name);
    try {
      for await (const chunk of stream) {
        count((chunk as Buffer).length);
        yield chunk as Buffer;
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

  close(): void {
    this.zip.close();
  }
}

/** Bytes an entry's stream reads from the file at once. */
const READ_BYTES = 64 * 1024;

/**
 * The zip file as yauzl reads it, in place of yauzl's own fd reader: that one lets fs.read
 * throw inside its callbacks (a ZIP64 offset past 2^53) and crashes when a stream is destroyed
 * with a read queued behind another stream's. Here a read past the end is an EOF, a destroyed
 * stream drops what its pending read brings, and the file closes once no read is pending and
 * no stream open.
 */
class ZipFileBytes extends yauzl.RandomAccessReader {
  /** Reads pending and streams open. */
  #busy = 0;
  #whenIdle: (() => void) | undefined;

  private constructor(
    private readonly fd: number,
    readonly size: number,
  ) {
    super();
  }

  static open(path: string): Promise<ZipFileBytes> {
    return new Promise((resolve, reject) =>
      open(path, 'r', (error, fd) => {
        if (error) return reject(error);
        fstat(fd, (error, stats) => {
          if (!error) return resolve(new ZipFileBytes(fd, stats.size));
          close(fd, () => {});
          reject(error);
        });
      }),
    );
  }

  /** Up to `length` bytes at `position`; none past the end of the file (yauzl: unexpected EOF). */
  override read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (error: Error | null, bytesRead?: number) => void,
  ): void {
    if (!(position >= 0 && position + length <= this.size)) {
      process.nextTick(callback, null, 0);
      return;
    }
    this.#busy++;
    read(this.fd, buffer, offset, length, position, (error, bytesRead) => {
      this.#release();
      callback(error, bytesRead);
    });
  }

  /**
   * Bytes `start` to `end` of the file (an entry's data; yauzl checked the range). Replaces
   * yauzl's default, which adds two streams per entry that its own fd reader does without.
   */
  override createReadStream({ start, end }: { start: number; end: number }): Readable {
    let at = start;
    this.#busy++;
    const stream: Readable = new Readable({
      highWaterMark: READ_BYTES,
      read: (size) => {
        const length = Math.min(size, end - at);
        if (length <= 0) {
          stream.push(null);
          return;
        }
        const buffer = Buffer.allocUnsafe(length);
        this.read(buffer, 0, length, at, (error, bytesRead) => {
          if (stream.destroyed) return;
          // Short only when the file shrank since it was opened.
          if (error || bytesRead !== length)
            return void stream.destroy(error ?? new Error('unexpected EOF'));
          at += length;
          stream.push(buffer);
        });
      },
    });
    stream.once('close', () => this.#release());
    return stream;
  }

  /** Called by yauzl once nothing refers to the file (after {@link ZipFile.close}). */
  override close(callback: (error: Error | null) => void): void {
    this.#whenIdle = () => close(this.fd, (error) => callback(error ?? null));
    if (!this.#busy) this.#release(0);
  }

  #release(count = 1): void {
    this.#busy -= count;
    if (this.#busy || !this.#whenIdle) return;
    const idle = this.#whenIdle;
    this.#whenIdle = undefined;
    idle();
  }
}

/** What each entry's local header says that its central directory record does not. */
async function localDisagreements(zip: ZipFile, entries: Entry[]): Promise<string[]> {
  const found: string[] = [];
  for (const entry of entries) {
    const local = await zip.readLocalFileHeaderPromise(entry);
    const differs: string[] = [];
    if (!local.fileName.equals(entry.fileNameRaw))
      // At most the first 200 bytes, as the portable reader says it.
      differs.push(`name ${JSON.stringify(local.fileName.subarray(0, 200).toString('latin1'))}`);
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

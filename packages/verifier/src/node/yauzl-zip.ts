import type { Readable } from 'node:stream';
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
  static open(path: string, limits: BundleLimits): Promise<YauzlZipReader> {
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
          const fail = (failure: BundleError) => {
            if (settled) return;
            settled = true;
            zip.close();
            reject(failure);
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
            zip.readEntry();
          });
          const unreadable = (cause: Error) =>
            fail(
              new BundleError('unreadable', `${path}: not a readable zip: ${cause.message}`, {
                cause,
              }),
            );
          zip.once('end', () => {
            if (settled) return;
            localDisagreements(zip, all).then((disagreements) => {
              if (settled) return;
              settled = true;
              resolve(new YauzlZipReader(zip, entries, duplicates, disagreements, limits));
            }, unreadable);
          });
          zip.on('error', unreadable);
          zip.readEntry();
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

import type { Readable } from 'node:stream';
import yauzl, { type Entry, type ZipFile } from 'yauzl';

/** Random access to a zip's entries without loading it: the central directory, then streams. */
export class BundleReader {
  private constructor(
    private readonly zip: ZipFile,
    readonly entries: ReadonlyMap<string, Entry>,
    /** Names that occur more than once: zip tools disagree on which one they show. */
    readonly duplicates: readonly string[],
  ) {}

  static open(path: string): Promise<BundleReader> {
    return new Promise((resolve, reject) => {
      yauzl.open(
        path,
        { lazyEntries: true, autoClose: false, validateEntrySizes: true },
        (error, zip) => {
          if (error || !zip) return reject(error ?? new Error('cannot open zip'));
          const entries = new Map<string, Entry>();
          const duplicates: string[] = [];
          zip.on('entry', (entry: Entry) => {
            if (!entry.fileName.endsWith('/')) {
              if (entries.has(entry.fileName)) duplicates.push(entry.fileName);
              entries.set(entry.fileName, entry);
            }
            zip.readEntry();
          });
          zip.once('end', () => resolve(new BundleReader(zip, entries, duplicates)));
          zip.once('error', reject);
          zip.readEntry();
        },
      );
    });
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  stream(name: string): Promise<Readable> {
    const entry = this.entries.get(name);
    if (!entry) return Promise.reject(new Error(`${name} is not in the bundle`));
    return new Promise((resolve, reject) => {
      this.zip.openReadStream(entry, (error, stream) =>
        error || !stream ? reject(error) : resolve(stream),
      );
    });
  }

  async read(name: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.stream(name)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  close(): void {
    this.zip.close();
  }
}

import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { finished } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { BundleStoreError } from './errors';
import {
  assertBundleKey,
  assertBundlePrefix,
  type BundleDownload,
  type BundleInfo,
  type BundleStore,
  type BundleWrite,
} from './store';

const TEMPORARY = /^\..+\.partial$/;

/** Maps a file-system error to a {@link BundleStoreError}, keeping the original as `cause`. */
function toStoreError(error: unknown, action: string): BundleStoreError {
  if (error instanceof BundleStoreError) return error;
  const code = (error as NodeJS.ErrnoException)?.code;
  const detail = `${action}: ${(error as Error)?.message ?? String(error)}`;
  if (code === 'ENOENT') return new BundleStoreError('not_found', detail, { cause: error });
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOTDIR')
    return new BundleStoreError('store_misconfigured', detail, { cause: error });
  // ENOSPC, EIO, EMFILE…: the disk may recover or be cleaned; the caller retries later.
  return new BundleStoreError('store_unavailable', detail, { cause: error });
}

/**
 * Bundles as files under one folder (the embedded default: `<data folder>/exports`). A write
 * goes to a hidden temporary file beside its target (`.<name>.<random>.partial`, flushed to
 * disk on close) and becomes visible by rename, which is atomic within a file system.
 */
export class LocalBundleStore implements BundleStore {
  readonly location: string;
  /** Not written to for 10 minutes: a `.partial` file may hold megabytes. */
  readonly abandonedAfterMs = 10 * 60_000;

  constructor(readonly root: string) {
    this.location = pathToFileURL(root).href;
  }

  #path(key: string): string {
    assertBundleKey(key);
    return join(this.root, ...key.split('/'));
  }

  async create(key: string): Promise<BundleWrite> {
    const path = this.#path(key);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 }).catch((error) => {
      throw toStoreError(error, `create ${key}`);
    });
    const temporary = join(
      dirname(path),
      `.${key.split('/').pop()}.${randomBytes(6).toString('hex')}.partial`,
    );
    const stream = createWriteStream(temporary, { mode: 0o600, flush: true });
    // A failed write still closes; commit() reads the outcome from `finished`.
    const outcome = finished(stream).then(
      () => null,
      (error: unknown) => error,
    );
    let state: 'open' | 'committed' | 'aborted' = 'open';
    const discard = () => rm(temporary, { force: true }).catch(() => {});
    return {
      stream,
      commit: async () => {
        if (state !== 'open')
          throw new BundleStoreError('write_incomplete', `bundle ${key} was already ${state}`);
        if (!stream.writableFinished)
          throw new BundleStoreError(
            'write_incomplete',
            `bundle ${key}: the stream has not ended`,
            {
              cause: stream.errored,
            },
          );
        const failure = await outcome;
        if (failure) throw toStoreError(failure, `write ${key}`);
        if (!stream.closed)
          await new Promise<void>((resolve) => stream.once('close', () => resolve()));
        try {
          await rename(temporary, path);
          const info = await stat(path);
          state = 'committed';
          return { key, bytes: info.size, lastModified: info.mtime };
        } catch (error) {
          throw toStoreError(error, `commit ${key}`);
        }
      },
      abort: async () => {
        if (state !== 'open') return;
        state = 'aborted';
        stream.destroy();
        await outcome;
        await discard();
      },
    };
  }

  async open(key: string): Promise<BundleDownload> {
    const path = this.#path(key);
    // Size from the open file, so a bundle replaced meanwhile cannot mismatch its length.
    const handle = await open(path, 'r').catch((error) => {
      throw toStoreError(error, `open ${key}`);
    });
    try {
      const { size } = await handle.stat();
      return { stream: handle.createReadStream(), bytes: size };
    } catch (error) {
      await handle.close();
      throw toStoreError(error, `open ${key}`);
    }
  }

  async stat(key: string): Promise<BundleInfo | null> {
    const path = this.#path(key);
    try {
      const info = await stat(path);
      return info.isFile() ? { key, bytes: info.size, lastModified: info.mtime } : null;
    } catch (error) {
      const mapped = toStoreError(error, `stat ${key}`);
      if (mapped.code === 'not_found') return null;
      throw mapped;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.stat(key)) !== null;
  }

  async delete(key: string): Promise<void> {
    await rm(this.#path(key), { force: true }).catch((error) => {
      throw toStoreError(error, `delete ${key}`);
    });
  }

  async *list(prefix = ''): AsyncIterable<BundleInfo> {
    assertBundlePrefix(prefix);
    for await (const { key, path } of this.#walk(this.root, '', prefix)) {
      if (TEMPORARY.test(key.split('/').pop() as string)) continue;
      const info = await stat(path).catch(() => null);
      if (info) yield { key, bytes: info.size, lastModified: info.mtime };
    }
  }

  /** Files under `dir` whose key starts with `prefix`, not entering folders that cannot. */
  async *#walk(
    dir: string,
    keyPrefix: string,
    prefix = '',
  ): AsyncIterable<{ key: string; path: string }> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw toStoreError(error, `list ${dir}`);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const key = `${keyPrefix}${entry.name}`;
      const path = `${dir}${sep}${entry.name}`;
      if (entry.isDirectory()) {
        const folder = `${key}/`;
        if (folder.startsWith(prefix) || prefix.startsWith(folder))
          yield* this.#walk(path, folder, prefix);
      } else if (entry.isFile() && key.startsWith(prefix)) yield { key, path };
    }
  }

  async downloadUrl(key: string): Promise<string | null> {
    if (!(await this.exists(key))) throw new BundleStoreError('not_found', `no bundle ${key}`);
    return null;
  }

  async sweepIncomplete(before: Date): Promise<number> {
    let removed = 0;
    for await (const { key, path } of this.#walk(this.root, '')) {
      if (!TEMPORARY.test(key.split('/').pop() as string)) continue;
      const info = await stat(path).catch(() => null);
      if (info && info.mtime < before) {
        await rm(path, { force: true });
        removed++;
      }
    }
    return removed;
  }

  async close(): Promise<void> {}
}

import { stat, statfs } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { PGlite, QueryOptions, Results, Transaction } from '@electric-sql/pglite';
import { lockFolder } from './folder-lock';

/**
 * The embedded PGlite on a file system that fills up.
 *
 * What PGlite 0.5 does (measured on a tmpfs, see apps/api/test/faults/full-disk.fault.test.ts):
 * - A table or index that cannot grow fails its statement with SQLSTATE 53100 ("could not
 *   extend file ...: No space left on device"); the instance lives on and works again once
 *   space is back.
 * - WAL that needs a new 16 MiB segment while the disk is full is a PANIC inside a critical
 *   section: PostgreSQL calls abort(), emscripten throws `RuntimeError: Aborted()`. PGlite's
 *   query loop catches every exception and loops again, waiting for a backend that will never
 *   read its input: the JavaScript thread spins at 100 % CPU for good. Every request hangs,
 *   even /healthz, and freeing space does not help.
 * - Opening on a full disk fails ("PGlite failed to initialize properly", or an emscripten
 *   `ErrnoError` with errno 51, emscripten's ENOSPC, that carries no message). Opened again
 *   once space is free, it runs crash recovery from the WAL and every committed transaction is
 *   there: a commit returns only after its WAL was written to the host file.
 *
 * So: an abort marks the instance dead and makes its query loop throw instead of spinning
 * (`watch`), the dead instance is dropped without running any of its code again (its exit
 * handlers would write a shutdown checkpoint from half-changed buffers), and a new instance is
 * opened on the same folder as soon as there is room for a WAL segment. Meanwhile every call
 * fails at once with an error whose `code` says why: `ENOSPC` or `EMBEDDED_REOPENING`.
 */

const MiB = 1024 * 1024;

/** Free space the embedded database needs, in bytes. */
export const EMBEDDED_SPACE = {
  /** A new database: about 40 MiB (one WAL segment, three databases) and the next segment. */
  firstStart: 64 * MiB,
  /** Reopening after a stop: crash recovery ends with a checkpoint that may need a segment. */
  reopen: 17 * MiB,
  /** Below this the disk is full: writes fail, readiness says no. */
  full: 1 * MiB,
} as const;

/**
 * Work waiting this long while the instance processes nothing is a wedge (a transaction that
 * holds the one connection while it waits on something that does not come): not ready.
 */
export const EMBEDDED_STALL_MS = 5_000;

/** Failed reopen attempts (with room for a WAL segment) before giving up to a restart. */
const MAX_REOPEN_FAILURES = 3;

/** Error codes of this module (`code` of the errors it throws). */
export const STORAGE_FULL = 'ENOSPC';
export const EMBEDDED_REOPENING = 'EMBEDDED_REOPENING';

/** The data folder has too little free space: at start, or while the database is stopped. */
export class StorageFullError extends Error {
  override readonly name = 'StorageFullError';
  readonly code = STORAGE_FULL;
  constructor(
    message: string,
    readonly folder: string,
    readonly freeBytes: number | undefined,
    readonly neededBytes: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The embedded database stopped (aborted) and is being reopened: retry shortly. */
export class EmbeddedReopeningError extends Error {
  override readonly name = 'EmbeddedReopeningError';
  readonly code = EMBEDDED_REOPENING;
}

export interface EmbeddedEvent {
  type: 'stopped' | 'reopened' | 'reopen_failed' | 'gave_up';
  folder: string | undefined;
  /** Why it stopped, or why reopening failed. */
  reason?: string;
  /** From the stop to the reopen. */
  ms?: number;
  freeBytes?: number | undefined;
}

export interface EmbeddedStatus {
  /** A live instance answers queries. */
  open: boolean;
  /** Free space under `EMBEDDED_SPACE.full`. */
  storageFull: boolean;
  freeBytes: number | undefined;
  /** Calls in flight (queued or running) on the one connection. */
  busy: boolean;
  /** How long calls have been in flight while the instance processed nothing (0 when idle). */
  stalledMs: number;
}

/** What drizzle's PGlite driver and `rawTransaction` call: the two members they use. */
export interface EmbeddedClient {
  query<T>(text: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>>;
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
}

interface Instance {
  pg: PGlite;
  dead: string | undefined;
  /** When its query loop last finished a turn (`watch`). */
  progressAt: number;
}

/** A PGlite on a folder (or in memory) that is reopened when it dies. */
export class EmbeddedDatabase {
  #current: Instance | undefined;
  #stoppedAt = 0;
  #recovery: Promise<void> | undefined;
  #closed = false;
  /** Releases the folder's lock (folder-lock.ts). */
  #unlock: (() => Promise<void>) | undefined;
  #free: number | undefined;
  #freeAt = 0;
  /** Ends the reopen loop's current wait (on close). */
  #wake: (() => void) | undefined;
  /** Calls in flight, and since when there has been at least one. */
  #inFlight = 0;
  #busySince = 0;

  private constructor(
    private readonly folder: string | undefined,
    private readonly onEvent: (event: EmbeddedEvent) => void,
  ) {}

  /**
   * Opens the folder. A new database needs `EMBEDDED_SPACE.firstStart` free and is refused
   * before anything is written; an existing one that cannot start on a full disk says so.
   */
  static async open(
    folder: string | undefined,
    onEvent: (event: EmbeddedEvent) => void = () => {},
  ): Promise<EmbeddedDatabase> {
    const database = new EmbeddedDatabase(folder, onEvent);
    if (!folder) {
      database.#current = await database.#openInstance();
      return database;
    }
    database.#unlock = await lockFolder(folder);
    try {
      await database.#openFolder(folder);
    } catch (error) {
      await database.#unlock();
      throw error;
    }
    return database;
  }

  /** Opens an instance on `folder`, saying why when the disk is too full for it. */
  async #openFolder(folder: string): Promise<void> {
    const existing = await stat(join(folder, 'PG_VERSION')).then(
      () => true,
      () => false,
    );
    const free = await freeBytes(folder);
    if (!existing && free !== undefined && free < EMBEDDED_SPACE.firstStart) {
      throw new StorageFullError(
        `${mib(free)} free where the embedded database would be created (${folder}); a new one needs ${mib(EMBEDDED_SPACE.firstStart)}`,
        folder,
        free,
        EMBEDDED_SPACE.firstStart,
      );
    }
    try {
      if (!existing) await createInWorker(folder);
      this.#current = await this.#openInstance();
    } catch (error) {
      const after = await freeBytes(folder);
      if (after !== undefined && after < EMBEDDED_SPACE.reopen) {
        throw new StorageFullError(
          `the embedded database in ${folder} could not start with ${mib(after)} free; it needs ${mib(EMBEDDED_SPACE.reopen)}`,
          folder,
          after,
          EMBEDDED_SPACE.reopen,
          { cause: error },
        );
      }
      throw new Error(`the embedded database in ${folder} could not start: ${describe(error)}`, {
        cause: error,
      });
    }
  }

  /** Every call goes to the live instance, or fails at once while there is none. */
  readonly client: EmbeddedClient = {
    query: (text, params, options) => this.#use((pg) => pg.query(text, params, options)),
    transaction: (fn) => this.#use((pg) => pg.transaction(fn)),
  };

  /**
   * Whether an instance is open, its folder has room, and calls in flight are being worked
   * on. Read from the instance's state, not by a query: a query would wait behind the work
   * already queued on the one connection.
   */
  async status(): Promise<EmbeddedStatus> {
    if (this.folder) {
      this.#free = await freeBytes(this.folder);
      this.#freeAt = Date.now();
    }
    const instance = this.#current;
    const open = instance !== undefined && instance.dead === undefined;
    const busy = this.#inFlight > 0;
    const stalledMs =
      busy && instance
        ? Math.max(0, Date.now() - Math.max(this.#busySince, instance.progressAt))
        : 0;
    return {
      open,
      storageFull: this.#free !== undefined && this.#free < EMBEDDED_SPACE.full,
      freeBytes: this.#free,
      busy,
      stalledMs,
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    await this.#recovery;
    const instance = this.#current;
    this.#current = undefined;
    // A dead instance is only dropped: closing it would run its code (see `discard`).
    if (instance && !instance.dead) await instance.pg.close();
    else if (instance) discard(instance.pg);
    await this.#unlock?.();
  }

  async #use<T>(fn: (pg: PGlite) => Promise<T>): Promise<T> {
    const instance = this.#current;
    if (this.#closed) throw new Error('the embedded database is closed');
    if (!instance || instance.dead) throw await this.#unavailable(instance?.dead);
    if (this.#inFlight++ === 0) this.#busySince = Date.now();
    try {
      return await fn(instance.pg);
    } catch (error) {
      if (instance.dead) throw await this.#unavailable(instance.dead, error);
      throw error;
    } finally {
      this.#inFlight--;
    }
  }

  /** Why there is no instance: the disk (no room for a WAL segment), or a reopen under way. */
  async #unavailable(reason: string | undefined, cause?: unknown): Promise<Error> {
    const free = await this.#freeNow();
    if (this.folder && free !== undefined && free < EMBEDDED_SPACE.reopen) {
      return new StorageFullError(
        `the data folder is full (${mib(free)} free); the embedded database reopens once ${mib(EMBEDDED_SPACE.reopen)} are free`,
        this.folder,
        free,
        EMBEDDED_SPACE.reopen,
        { cause },
      );
    }
    return new EmbeddedReopeningError(
      `the embedded database stopped (${reason ?? 'closed'}) and is being reopened`,
      { cause },
    );
  }

  /** Free space of the folder, at most a quarter of a second old (one statfs). */
  async #freeNow(): Promise<number | undefined> {
    if (!this.folder) return undefined;
    if (Date.now() - this.#freeAt > 250) {
      this.#free = await freeBytes(this.folder);
      this.#freeAt = Date.now();
    }
    return this.#free;
  }

  async #openInstance(): Promise<Instance> {
    // Loaded only when used: PGlite's WebAssembly build costs tens of megabytes of memory.
    const { PGlite } = await import('@electric-sql/pglite');
    const pg = this.folder ? new PGlite(this.folder) : new PGlite();
    try {
      await pg.waitReady;
    } catch (error) {
      discard(pg);
      throw error;
    }
    const instance: Instance = { pg, dead: undefined, progressAt: Date.now() };
    watch(instance, (reason) => this.#died(instance, reason));
    return instance;
  }

  /** Called from inside the instance's code (its abort): flags only, the rest comes later. */
  #died(instance: Instance, reason: string): void {
    if (instance !== this.#current) return;
    this.#current = undefined;
    this.#stoppedAt = Date.now();
    setImmediate(() => {
      discard(instance.pg);
      if (!this.folder || this.#closed) return;
      this.#recovery ??= this.#reopen(reason).finally(() => {
        this.#recovery = undefined;
      });
    });
  }

  /**
   * Opens the folder again once a WAL segment fits: free space is polled every half second
   * (a statfs), failed opens back off from 1 s. An open that fails without an abort (startup
   * FATAL) leaves its instance alive in memory, about 200 MB that no one can free, so after
   * `MAX_REOPEN_FAILURES` the handle gives up (`gave_up`): a new process is the remedy left.
   */
  async #reopen(reason: string): Promise<void> {
    const folder = this.folder as string;
    this.onEvent({ type: 'stopped', folder, reason, freeBytes: await this.#freeNow() });
    let backoff = 1_000;
    let failures = 0;
    while (!this.#closed) {
      await this.#freeNow();
      if (this.#free === undefined || this.#free >= EMBEDDED_SPACE.reopen) {
        try {
          const instance = await this.#openInstance();
          if (this.#closed) {
            await instance.pg.close();
            return;
          }
          this.#current = instance;
          this.onEvent({
            type: 'reopened',
            folder,
            ms: Date.now() - this.#stoppedAt,
            freeBytes: this.#free,
          });
          return;
        } catch (error) {
          failures += 1;
          if (failures >= MAX_REOPEN_FAILURES) {
            this.onEvent({ type: 'gave_up', folder, reason: describe(error) });
            return;
          }
          this.onEvent({ type: 'reopen_failed', folder, reason: describe(error) });
          await this.#sleep(backoff);
          backoff = Math.min(backoff * 2, 10_000);
          continue;
        }
      }
      await this.#sleep(500);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** The members of PGlite's emscripten module that its query loop calls. */
type Module = Record<string, unknown> & { onAbort?: (what: unknown) => void };
type Fn = (...args: unknown[]) => unknown;
/** PGlite's own "an SQL error longjmp'd to the main loop" status (POSTGRES_MAIN_LONGJMP). */
const MAIN_LONGJMP = 100;

/**
 * Turns PGlite's endless loop after an abort into a thrown error. Emscripten calls
 * `Module.onAbort` before it throws; PGlite's loop (`execProtocolRawSync`) catches what
 * `_PostgresMainLoopOnce` throws, calls `stackRestore`, and loops while its input is unread.
 * Once dead, `stackRestore` throws, which leaves the loop, and the calls in its `finally` and
 * in `close()` do nothing. Any other exception than PGlite's SQL-error longjmp is treated as
 * an abort too: PGlite would loop on it the same way.
 */
function watch(instance: Instance, onDeath: (reason: string) => void): void {
  const mod = instance.pg.Module as unknown as Module;
  const die = (reason: string) => {
    if (instance.dead) return;
    instance.dead = reason;
    onDeath(reason);
  };
  const dead = () => new EmbeddedReopeningError(`PGlite instance is dead: ${instance.dead}`);
  const wrap = (name: string, make: (original: Fn) => Fn) => {
    const original = mod[name];
    if (typeof original === 'function') mod[name] = make(original as Fn);
  };
  mod.onAbort = (what) => die(`aborted${what ? `: ${String(what)}` : ''}`);
  wrap('_PostgresMainLoopOnce', (original) => (...args) => {
    if (instance.dead) throw dead();
    try {
      return original(...args);
    } catch (error) {
      if ((error as { status?: unknown } | null)?.status !== MAIN_LONGJMP) die(describe(error));
      throw error;
    } finally {
      instance.progressAt = Date.now();
    }
  });
  wrap('stackRestore', (original) => (...args) => {
    if (instance.dead) throw dead();
    return original(...args);
  });
  for (const name of [
    '_PostgresSendReadyForQueryIfNecessary',
    '_pgl_pq_flush',
    '_pgl_setPGliteActive',
    '_pgl_run_atexit_funcs',
    '_emscripten_force_exit',
  ]) {
    wrap(
      name,
      (original) =>
        (...args) =>
          instance.dead ? 0 : original(...args),
    );
  }
}

/**
 * Drops an instance that died or never started without running PostgreSQL again: no
 * `close()` (its exit handlers would write a shutdown checkpoint from buffers an abort left
 * half-changed, and mark the folder as cleanly shut down). Only its open files are closed;
 * its timers do nothing once it aborted, so the collector can take its memory.
 */
function discard(pg: PGlite): void {
  try {
    const fs = (pg.Module as unknown as { FS?: { quit?: () => void } } | undefined)?.FS;
    fs?.quit?.();
  } catch {
    // Nothing more can be done for it.
  }
}

/**
 * Creates the database in `folder` on a worker thread. Creating it (initdb) grows PGlite's
 * WebAssembly memory to about 850 MB, which an instance never gives back, and a closed one
 * is freed only when the garbage collector gets to it: an outside soak saw a first start
 * idle at 918 MB where a restart idled at 394. A worker's memory is all freed when it exits.
 */
async function createInWorker(folder: string): Promise<void> {
  // Only import(): the code runs as a module or as a script, as the process's own
  // --input-type says. What it throws is sent back as it is (PGlite's ErrnoError has no
  // message, only errno, which an unhandled rejection's text would lose).
  const worker = new Worker(
    `(async () => {
      const { workerData, parentPort } = await import('node:worker_threads');
      try {
        const pglite = await import(workerData.pglite);
        const pg = new (pglite.PGlite ?? pglite.default.PGlite)(workerData.folder);
        await pg.waitReady;
        await pg.close();
      } catch (error) {
        parentPort.postMessage({
          name: String(error?.name ?? 'Error'),
          message:
            typeof error?.message === 'string'
              ? error.message
              : typeof error === 'object' && error !== null
                ? ''
                : String(error),
          errno: typeof error?.errno === 'number' ? error.errno : undefined,
        });
      }
    })();`,
    {
      eval: true,
      workerData: {
        pglite: pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')).href,
        folder,
      },
    },
  );
  let thrown: { name: string; message: string; errno: number | undefined } | undefined;
  worker.on('message', (message) => {
    thrown = message;
  });
  await new Promise<void>((done, fail) => {
    worker.once('error', fail);
    worker.once('exit', (code) => {
      if (thrown) fail(Object.assign(new Error(thrown.message), thrown));
      else if (code !== 0) fail(new Error(`creating the database stopped (exit ${code})`));
      else done();
    });
  });
}

/** Free bytes for this user on the file system of `path` (or its nearest existing parent). */
export async function freeBytes(path: string): Promise<number | undefined> {
  let current = resolve(path);
  for (;;) {
    try {
      const s = await statfs(current);
      return s.bavail * s.bsize;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const parent = dirname(current);
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === current) return undefined;
      current = parent;
    }
  }
}

/** One line about anything thrown (emscripten's ErrnoError has no message, only errno). */
function describe(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as { message?: unknown; name?: unknown; errno?: unknown };
    if (typeof e.message === 'string' && e.message) return e.message.split('\n', 1)[0] as string;
    if (e.name === 'ErrnoError' && e.errno === 51) return 'no space left on device (ENOSPC)';
    if (typeof e.errno === 'number') return `${String(e.name ?? 'error')} errno ${e.errno}`;
  }
  return String(error);
}

export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(bytes < 10 * MiB ? 1 : 0)} MiB`;
}

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import postgres from 'postgres';

/** How the stack starts its processes: a script of the `quittance` command, run by node. */
export interface StackEntry {
  script: string;
  /** Node options before the script (a loader, memory limits): the stack's own. */
  execArgv: string[];
}

/** The TypeScript sources through tsx (the default: tests start a stack from source). */
const SOURCE_ENTRY: StackEntry = {
  script: resolve(import.meta.dirname, '../bin/quittance.js'),
  execArgv: [],
};

/** A started process whose output can be awaited for a line. */
export interface Launched {
  child: ChildProcess;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<unknown>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export type Launcher = (
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv },
) => Launched;

/**
 * The stack's own launcher: each process's output goes to this terminal, prefixed with its
 * name, as an operator watching the stack wants. Tests pass a capturing launcher instead.
 */
export function prefixingLauncher(name: () => string): Launcher {
  return (command, args, { env }) => {
    const label = name();
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const seen: string[] = [];
    const waiters = new Set<() => void>();
    const onLine = (line: string) => {
      seen.push(line);
      if (seen.length > 200) seen.shift();
      process.stderr.write(`${label} | ${line}\n`);
      for (const waiter of waiters) waiter();
    };
    for (const stream of [child.stdout, child.stderr]) {
      let buffer = '';
      stream?.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        lines.forEach(onLine);
      });
    }
    const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
    return {
      child,
      waitFor: (pattern, timeoutMs = 60_000) =>
        new Promise((resolveWait, reject) => {
          const check = () => {
            if (seen.some((line) => pattern.test(line))) {
              waiters.delete(check);
              clearTimeout(timer);
              resolveWait(undefined);
            }
          };
          const timer = setTimeout(() => {
            waiters.delete(check);
            reject(new Error(`${label} did not print ${pattern}`));
          }, timeoutMs);
          waiters.add(check);
          check();
        }),
      stop: async (signal = 'SIGTERM') => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        return exited;
      },
    };
  };
}

export interface StackOptions {
  databaseUrl: string;
  redisUrl: string;
  /** The stack's folder: one data folder per process inside, and the shared secrets. */
  dataDir: string;
  ports: number[];
  workers: number;
  /**
   * The bundle store every process shares (QUITTANCE_BUNDLE_STORE, AWS_ENDPOINT_URL_S3,
   * credentials…). Without one each process keeps bundles in its own data folder, and only
   * the worker that built a bundle has it: enough for a stack that exports nothing.
   */
  bundleStore?: Record<string, string>;
  /** More environment for every process (TSA, queue name, log level, …). */
  env?: Record<string, string>;
  /** The script children run; the TypeScript sources through tsx by default. */
  entry?: StackEntry;
  launch: Launcher;
}

export interface RunningStack {
  apis: { url: string; process: Launched; dataDir: string }[];
  workers: Launched[];
  adminToken: string;
  /** QUITTANCE_LOCAL_KEK of every process (base64url). */
  localKek: string;
  publicUrl: string;
  /** SIGTERM to every process; resolves with their exit codes. */
  stop(): Promise<(number | null)[]>;
}

/** Creates the database of a PostgreSQL URL when it does not exist yet. */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const sql = postgres(admin.toString(), { max: 1, onnotice: () => {} });
  try {
    const [found] = await sql`select 1 from pg_database where datname = ${name}`;
    if (!found) await sql.unsafe(`create database "${name.replaceAll('"', '""')}"`);
  } finally {
    await sql.end();
  }
}

/**
 * The production shape on one machine, without Docker: API processes on their own ports and
 * job workers, each with a data folder of its own (nothing shared on disk), on one PostgreSQL,
 * one Redis and one bundle store. What they share besides is given by environment, as a
 * deployment would: the admin token and QUITTANCE_LOCAL_KEK, which wraps the publisher key,
 * the vault key and local signing keys kept in the database.
 */
export async function startStack(options: StackOptions): Promise<RunningStack> {
  await ensureDatabase(options.databaseUrl);
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const adminToken =
    process.env.QUITTANCE_ADMIN_TOKEN ||
    (await stackSecret(options.dataDir, 'admin-token', () => `qta_${random32()}`));
  const localKek =
    process.env.QUITTANCE_LOCAL_KEK || (await stackSecret(options.dataDir, 'local-kek', random32));
  const publicUrl = `http://127.0.0.1:${options.ports[0]}`;
  const entry = options.entry ?? SOURCE_ENTRY;
  const env = {
    ...process.env,
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    QUITTANCE_ADMIN_TOKEN: adminToken,
    QUITTANCE_LOCAL_KEK: localKek,
    QUITTANCE_PUBLIC_URL: publicUrl,
    QUITTANCE_SHUTDOWN_DELAY_MS: process.env.QUITTANCE_SHUTDOWN_DELAY_MS ?? '500',
    ...options.bundleStore,
    ...options.env,
  };
  const apiDirs = options.ports.map((_, i) => join(options.dataDir, `api-${i + 1}`));
  await adoptSharedFolder(options.dataDir, apiDirs[0] as string);
  const launch = (command: 'serve' | 'worker', dataDir: string, more: Record<string, string>) =>
    options.launch(process.execPath, [...entry.execArgv, entry.script, command], {
      env: { ...env, QUITTANCE_DATA_DIR: dataDir, ...more },
    });
  const serve = (i: number) =>
    launch('serve', apiDirs[i] as string, { PORT: String(options.ports[i]) });
  // The first process migrates and creates the shared keys; the others then find them.
  const first = serve(0);
  await first.waitFor(/Quittance is serving/, 60_000);
  const rest = options.ports.slice(1).map((_, i) => serve(i + 1));
  const workers = Array.from({ length: options.workers }, (_, i) =>
    launch('worker', join(options.dataDir, `worker-${i + 1}`), {}),
  );
  await Promise.all(rest.map((p) => p.waitFor(/Quittance is serving/, 60_000)));
  await Promise.all(workers.map((w) => w.waitFor(/Quittance worker started/, 60_000)));
  const apis = [first, ...rest].map((process, i) => ({
    url: `http://127.0.0.1:${options.ports[i]}`,
    process,
    dataDir: apiDirs[i] as string,
  }));
  return {
    apis,
    workers,
    adminToken,
    localKek,
    publicUrl,
    stop: () =>
      Promise.all([...apis.map((a) => a.process), ...workers].map((p) => p.stop('SIGTERM'))),
  };
}

const random32 = () => randomBytes(32).toString('base64url');

/** A secret of the stack, made once and kept in its folder (mode 0600). */
async function stackSecret(dir: string, name: string, make: () => string): Promise<string> {
  const path = join(dir, name);
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    await writeFile(path, `${make()}\n`, { mode: 0o600, flag: 'wx' }).catch(() => {});
    return (await readFile(path, 'utf8')).trim();
  }
}

/**
 * A stack folder of an earlier version was one data folder shared by every process. Its keys
 * go to the first API process's folder before that process first starts, which imports them
 * into the database (wrapped by QUITTANCE_LOCAL_KEK): receipts and snapshots they signed, and
 * bodies they wrapped, stay verifiable and readable. The originals are left where they were.
 */
async function adoptSharedFolder(stackDir: string, firstApiDir: string): Promise<void> {
  const exists = (path: string) =>
    stat(path).then(
      () => true,
      () => false,
    );
  if (!(await exists(join(stackDir, 'publisher.jwk'))) || (await exists(firstApiDir))) return;
  await mkdir(firstApiDir, { recursive: true, mode: 0o700 });
  for (const name of ['publisher.jwk', 'vault.key', 'keys'])
    if (await exists(join(stackDir, name)))
      await cp(join(stackDir, name), join(firstApiDir, name), { recursive: true });
}

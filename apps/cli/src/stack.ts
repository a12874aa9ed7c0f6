import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import postgres from 'postgres';

const BIN = resolve(import.meta.dirname, '../bin/quittance.js');

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
  dataDir: string;
  ports: number[];
  workers: number;
  /** More environment for every process (TSA, queue name, log level, …). */
  env?: Record<string, string>;
  launch: Launcher;
}

export interface RunningStack {
  apis: { url: string; process: Launched }[];
  workers: Launched[];
  adminToken: string;
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
 * job workers, all on one PostgreSQL and one Redis and one data folder (the shared admin
 * token, publisher key, vault key and local signing keys).
 */
export async function startStack(options: StackOptions): Promise<RunningStack> {
  await ensureDatabase(options.databaseUrl);
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const adminToken = await stackAdminToken(options.dataDir);
  const publicUrl = `http://127.0.0.1:${options.ports[0]}`;
  const env = {
    ...process.env,
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    QUITTANCE_DATA_DIR: options.dataDir,
    QUITTANCE_ADMIN_TOKEN: adminToken,
    QUITTANCE_PUBLIC_URL: publicUrl,
    QUITTANCE_SHUTDOWN_DELAY_MS: process.env.QUITTANCE_SHUTDOWN_DELAY_MS ?? '500',
    ...options.env,
  };
  // The first process migrates and creates the shared keys; the others then find them.
  const start = (port: number) =>
    options.launch(process.execPath, [BIN, 'serve'], { env: { ...env, PORT: String(port) } });
  const first = start(options.ports[0] as number);
  await first.waitFor(/Quittance is serving/, 60_000);
  const rest = options.ports.slice(1).map(start);
  const workers = Array.from({ length: options.workers }, () =>
    options.launch(process.execPath, [BIN, 'worker'], { env }),
  );
  await Promise.all(rest.map((p) => p.waitFor(/Quittance is serving/, 60_000)));
  await Promise.all(workers.map((w) => w.waitFor(/Quittance worker started/, 60_000)));
  const apis = [first, ...rest].map((process, i) => ({
    url: `http://127.0.0.1:${options.ports[i]}`,
    process,
  }));
  return {
    apis,
    workers,
    adminToken,
    publicUrl,
    stop: () =>
      Promise.all([...apis.map((a) => a.process), ...workers].map((p) => p.stop('SIGTERM'))),
  };
}

async function stackAdminToken(dataDir: string): Promise<string> {
  if (process.env.QUITTANCE_ADMIN_TOKEN) return process.env.QUITTANCE_ADMIN_TOKEN;
  const path = join(dataDir, 'admin-token');
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    const token = `qta_${randomBytes(32).toString('base64url')}`;
    await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'wx' }).catch(() => {});
    return (await readFile(path, 'utf8')).trim();
  }
}

/**
 * Start-up time and idle memory of each process, TypeScript through tsx (bin/quittance.js,
 * what development and the tests run) against the compiled build (dist/app/quittance.js,
 * `npm run build`), measured alternately in the same run. For `serve` on PostgreSQL and on
 * the embedded PGlite (its first start, which creates the database, and a start on a folder
 * made before): time from spawn to the first 200 from /readyz, then RSS after 2 s idle. For
 * `worker`: RSS after 3 s. Asserts nothing.   npm run bench:startup   (RUNS=5)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, freePort, TEST_REDIS_URL } from '@quittance/test-tooling';
import { median } from './median';

const RUNS = Number(process.env.RUNS ?? 5);
const ROOT = join(import.meta.dirname, '..');
const ENTRIES = {
  tsx: join(ROOT, 'apps/cli/bin/quittance.js'),
  compiled: join(ROOT, 'dist/app/quittance.js'),
};
if (!existsSync(ENTRIES.compiled)) throw new Error('run `npm run build` first');

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function stop(child: ChildProcess) {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(10_000).then(() => child.kill('SIGKILL'))]);
}

/** `serve` once; in `folder` when given (a data folder made by an earlier start), else a new one. */
async function serveOnce(entry: string, databaseUrl: string | undefined, folder?: string) {
  const dataDir = folder ?? (await mkdtemp(join(tmpdir(), 'qstart-')));
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [entry, 'serve'], {
    env: {
      ...process.env,
      PORT: String(port),
      QUITTANCE_DATA_DIR: dataDir,
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    },
    stdio: 'ignore',
  });
  try {
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (performance.now() - started > 60_000) throw new Error('serve did not get ready');
      await sleep(20);
    }
    const readyMs = performance.now() - started;
    await sleep(2_000);
    return { readyMs, rss: await rssMb(child.pid as number) };
  } finally {
    await stop(child);
    if (!folder) await rm(dataDir, { recursive: true, force: true });
  }
}

async function workerOnce(entry: string, databaseUrl: string) {
  const dataDir = await mkdtemp(join(tmpdir(), 'qstart-'));
  const child = spawn(process.execPath, [entry, 'worker'], {
    env: {
      ...process.env,
      QUITTANCE_DATA_DIR: dataDir,
      DATABASE_URL: databaseUrl,
      REDIS_URL: TEST_REDIS_URL,
      QUITTANCE_QUEUE_NAME: `bench-startup-${process.pid}`,
    },
    stdio: 'ignore',
  });
  try {
    await sleep(3_000);
    return { rss: await rssMb(child.pid as number) };
  } finally {
    await stop(child);
    await rm(dataDir, { recursive: true, force: true });
  }
}

const database = await createTestDatabase();
// The embedded database's first start creates it (initdb); a restart opens what is there.
const existing = await mkdtemp(join(tmpdir(), 'qstart-existing-'));
try {
  await serveOnce(ENTRIES.compiled, undefined, existing);
  const rows: string[] = [];
  for (const [label, url, folder] of [
    ['serve (PostgreSQL)', database.url, undefined],
    ['serve (PGlite, new)', undefined, undefined],
    ['serve (PGlite, again)', undefined, existing],
  ] as const) {
    type Figure = { readyMs: number; rss: number };
    const figures: Record<'tsx' | 'compiled', Figure[]> = { tsx: [], compiled: [] };
    for (let i = 0; i < RUNS; i++)
      for (const kind of ['tsx', 'compiled'] as const)
        figures[kind].push(await serveOnce(ENTRIES[kind], url, folder));
    for (const kind of ['tsx', 'compiled'] as const)
      rows.push(
        `${label.padEnd(22)} ${kind.padEnd(9)} ready ${median(figures[kind].map((f) => f.readyMs))
          .toFixed(0)
          .padStart(5)} ms   idle RSS ${median(figures[kind].map((f) => f.rss))
          .toFixed(0)
          .padStart(4)} MB`,
      );
  }
  const workers = { tsx: [] as number[], compiled: [] as number[] };
  for (let i = 0; i < RUNS; i++)
    for (const kind of ['tsx', 'compiled'] as const)
      workers[kind].push((await workerOnce(ENTRIES[kind], database.url)).rss);
  for (const kind of ['tsx', 'compiled'] as const)
    rows.push(
      `${'worker'.padEnd(22)} ${kind.padEnd(9)} idle RSS ${median(workers[kind]).toFixed(0).padStart(4)} MB`,
    );
  process.stdout.write(`medians of ${RUNS} runs each, alternating\n${rows.join('\n')}\n`);
} finally {
  await rm(existing, { recursive: true, force: true });
  await database.drop();
}

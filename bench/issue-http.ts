/**
 * Issuance throughput (issue 14), every figure from one run on this machine with `wrk` as the
 * load generator (Debian's package; 64 connections, unique callId per request, 1 KB input and
 * output bodies, see issue.lua):
 *   - the floor: a bare hono handler that parses, hashes and answers (floor-server.mjs);
 *   - the compiled service (`npm run build`, dist/app) on the real PostgreSQL, local signer,
 *     the transparency tree on: one and two API processes, one and sixteen merchants;
 *   - the same with merchant keys in KMS (the protocol-level test endpoint, 5 ms per call);
 *   - peak RSS of an API process (VmHWM) after its runs.
 * The floor, one process, two processes, KMS, and sixteen merchants on one and on two
 * processes are measured in rounds, one run after the other, and each ratio is taken within a
 * round: the host's speed drifts between runs by more than most changes worth measuring. Every
 * other round runs in the reverse order, and a first round warms up uncounted.
 * Prints each figure, then each ratio's median over the rounds and its range. Asserts
 * nothing.
 *   npm run bench:issue   (BENCH_SECONDS=10, BENCH_CLIENTS=64, BENCH_KMS_DELAY_MS=5,
 *                          BENCH_ROUNDS=4; BENCH_NODE_FLAGS="--flag …" for the API processes)
 */
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  createTestDatabase,
  freePort,
  type KmsTestServer,
  spawnProcess,
  startKmsServer,
  TEST_REDIS_URL,
} from '@quittance/test-tooling';
import { type RunningStack, startStack } from '../apps/cli/src/stack';
import { median } from './median';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 64);
const KMS_DELAY_MS = Number(process.env.BENCH_KMS_DELAY_MS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const root = resolve(import.meta.dirname, '..');
const run = promisify(execFile);

interface Figure {
  rate: number;
  p50: number;
  p99: number;
  errors: number;
}

/** wrk's text output: requests/s, latency percentiles (ms) and non-2xx or socket errors. */
function parseWrk(text: string): Figure {
  const ms = (label: string) => {
    const m = text.match(new RegExp(`^\\s+${label}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm'));
    if (!m) return Number.NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const non2xx = Number(text.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
  const socket = text.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const socketErrors = socket ? socket.slice(1).reduce((n, v) => n + Number(v), 0) : 0;
  return {
    rate: Number(text.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? 0),
    p50: ms('50'),
    p99: ms('99'),
    errors: non2xx + socketErrors,
  };
}

/** wrk against each base URL at once, the connections split between them; rates summed. */
async function wrk(bases: string[], tokens: string[], tag: string): Promise<Figure> {
  const each = Math.max(1, Math.floor(CLIENTS / bases.length));
  const outputs = await Promise.all(
    bases.map(async (base, i) => {
      const { stdout } = await run(
        'wrk',
        [
          '-t1',
          `-c${each}`,
          `-d${SECONDS}s`,
          '--latency',
          '-s',
          join(root, 'bench/issue.lua'),
          base,
        ],
        {
          env: { ...process.env, BENCH_TOKENS: tokens.join(','), BENCH_TAG: `${tag}-${i}` },
          maxBuffer: 1 << 20,
        },
      );
      return parseWrk(stdout);
    }),
  );
  return {
    rate: outputs.reduce((n, o) => n + o.rate, 0),
    p50: Math.max(...outputs.map((o) => o.p50)),
    p99: Math.max(...outputs.map((o) => o.p99)),
    errors: outputs.reduce((n, o) => n + o.errors, 0),
  };
}

function print(label: string, f: Figure, unit = 'receipts/s') {
  console.log(
    `${label.padEnd(40)} ${Math.round(f.rate).toString().padStart(6)} ${unit}   p50 ${f.p50.toFixed(1)} ms   p99 ${f.p99.toFixed(1)} ms${f.errors ? `   errors ${f.errors}` : ''}`,
  );
}

/** The 14th to 17th fields of /proc/PID/stat (utime, stime, cutime, cstime), in seconds. */
async function cpuFields(pid: number | string): Promise<number[]> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command's closing parenthesis start at the 3rd.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields.slice(11, 15).map((f) => Number(f) / 100); // USER_HZ is 100 on Linux
}

/** CPU seconds a process has used (user + system, all threads), from /proc. */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  const [user, system] = await cpuFields(pid ?? 'self');
  return (user as number) + (system as number);
}

/** CPU seconds of every PostgreSQL process (backends and background), from /proc. */
async function postgresCpuSeconds(): Promise<number> {
  let total = 0;
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      if (!stat.includes(' (postgres) ')) continue;
      const [user, system] = await cpuFields(pid);
      total += (user as number) + (system as number);
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

/** CPU seconds of this process's finished children (wrk, once it has exited). */
async function childrenCpuSeconds(): Promise<number> {
  const [, , user, system] = await cpuFields('self');
  return (user as number) + (system as number);
}

/** CPU seconds of the API processes together. */
async function apiCpuSeconds(pids: (number | undefined)[]): Promise<number> {
  let total = 0;
  for (const pid of pids) total += await cpuSeconds(pid);
  return total;
}

/**
 * A wrk run with the CPU per receipt, in µs, of the API processes, of this process (the KMS
 * test endpoint when there is one), of PostgreSQL and of wrk itself: what the two cores spend.
 */
async function wrkWithCpu(
  bases: string[],
  tokens: string[],
  tag: string,
  pids: (number | undefined)[],
) {
  const [api, own, postgres, children] = [
    await apiCpuSeconds(pids),
    process.cpuUsage(),
    await postgresCpuSeconds(),
    await childrenCpuSeconds(),
  ];
  const figure = await wrk(bases, tokens, tag);
  const receipts = figure.rate * SECONDS;
  const used = process.cpuUsage(own);
  const perReceipt = (seconds: number) => (seconds * 1e6) / receipts;
  return {
    figure,
    apiUs: perReceipt((await apiCpuSeconds(pids)) - api),
    benchUs: (used.user + used.system) / receipts,
    postgresUs: perReceipt((await postgresCpuSeconds()) - postgres),
    wrkUs: perReceipt((await childrenCpuSeconds()) - children),
  };
}

async function peakRss(pid: number | undefined): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(status.match(/VmHWM:\s+(\d+) kB/)?.[1] ?? 0) / 1024;
}

async function adminCall(stack: RunningStack, path: string, body: unknown) {
  const r = await fetch(`${stack.apis[0]?.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  if (r.status !== 201) throw new Error(`set-up failed: ${r.status} ${text}`);
  return JSON.parse(text);
}

async function merchants(stack: RunningStack, n: number, tag: string): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; i < n; i++) {
    const merchantId = `bench-${tag}-${i}`;
    await adminCall(stack, '/admin/v1/merchants', { merchantId, jurisdiction: 'EU' });
    keys.push(
      (await adminCall(stack, `/admin/v1/merchants/${merchantId}/api-keys`, { role: 'merchant' }))
        .apiKey,
    );
  }
  return keys;
}

/** The floor server (floor-server.mjs), kept running so that its runs interleave with the others. */
async function withFloor<T>(body: (base: string) => Promise<T>): Promise<T> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(root, 'bench/floor-server.mjs'), String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((r) => child.stdout?.once('data', r));
  try {
    const base = `http://127.0.0.1:${port}`;
    await wrk([base], ['floor'], 'floor-warmup');
    return await body(base);
  } finally {
    child.kill();
  }
}

async function withStack<T>(
  processes: number,
  env: Record<string, string>,
  body: (stack: RunningStack) => Promise<T>,
): Promise<T> {
  const database = await createTestDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'quittance-bench-'));
  const ports = await Promise.all(Array.from({ length: processes }, () => freePort()));
  const stack = await startStack({
    databaseUrl: database.url,
    redisUrl: TEST_REDIS_URL,
    dataDir,
    ports,
    workers: 0,
    env: { LOG_LEVEL: 'warn', QUITTANCE_QUEUE_NAME: `bench-${randomUUID()}`, ...env },
    entry: { script: join(root, 'dist/app/quittance.js'), execArgv: NODE_FLAGS },
    launch: spawnProcess,
  });
  try {
    return await body(stack);
  } finally {
    await stack.stop();
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

console.log('building dist/app (npm run build)…');
await run('npm', ['run', '-s', 'build'], { cwd: root });
console.log(
  `node ${process.version}; wrk, ${CLIENTS} connections, ${SECONDS}s per run, ${ROUNDS} rounds; 1 KB input and output; tree on`,
);

const kmsEnv = (kms: KmsTestServer) => ({
  QUITTANCE_SIGNING_BACKEND: 'kms',
  AWS_ENDPOINT_URL_KMS: kms.url,
  AWS_ACCESS_KEY_ID: 'AKIDTEST',
  AWS_SECRET_ACCESS_KEY: 'x',
  AWS_REGION: 'us-east-1',
});

type Cpu = Omit<Awaited<ReturnType<typeof wrkWithCpu>>, 'figure'>;
interface Round {
  floor: Figure;
  r11: Figure;
  r21: Figure;
  r116: Figure;
  r216: Figure;
  kms: Figure;
  cpu: Cpu;
  cpu2: Cpu;
  kmsCpu: Cpu;
  cpu16: Cpu;
  cpu216: Cpu;
}

const kms = await startKmsServer();
kms.faults.delayMs = KMS_DELAY_MS;
// Every figure a ratio is taken of is measured in the same round, one run after the other:
// this host is shared, and its speed drifts by more than the changes worth measuring.
const { rounds, rss } = await withFloor((floorBase) =>
  withStack(2, {}, (local) =>
    withStack(1, kmsEnv(kms), async (kmsStack) => {
      const one = [local.apis[0]?.url as string];
      const two = local.apis.map((a) => a.url);
      const kmsOne = kmsStack.apis[0]?.url as string;
      const pid = local.apis[0]?.process.child.pid;
      const kmsPid = kmsStack.apis[0]?.process.child.pid;
      const rounds: Round[] = [];
      const twoPids = local.apis.map((a) => a.process.child.pid);
      // Round 0 warms up and is not counted: a first run on new processes and a new database
      // came out about 20 % slower than the same run later (the JIT, heap sizing and the
      // planner's first statistics are candidates), which skewed whichever ratio it was in.
      for (let r = 0; r <= ROUNDS; r++) {
        // The runs of a round, each with its fresh merchants. Every other round runs them in
        // the reverse order, so that no figure always follows the same neighbour or sits at
        // the same end of the round: a run after a heavy one may pay for PostgreSQL's
        // background work left by it (checkpoints, autovacuum), and the host drifts.
        const runs = {
          floor: async () => ({ figure: await wrk([floorBase], ['floor'], `floor-${r}`) }),
          r11: async () => wrkWithCpu(one, await merchants(local, 1, `a${r}`), `a${r}`, [pid]),
          r116: async () => wrkWithCpu(one, await merchants(local, 16, `b${r}`), `b${r}`, [pid]),
          r21: async () => wrkWithCpu(two, await merchants(local, 1, `c${r}`), `c${r}`, twoPids),
          r216: async () => wrkWithCpu(two, await merchants(local, 16, `d${r}`), `d${r}`, twoPids),
          kms: async () =>
            wrkWithCpu([kmsOne], await merchants(kmsStack, 1, `k${r}`), `k${r}`, [kmsPid]),
        };
        type Name = keyof typeof runs;
        const order = Object.keys(runs) as Name[];
        if (r % 2 === 0) order.reverse();
        const done = {} as { [N in Name]: Awaited<ReturnType<(typeof runs)[N]>> };
        for (const name of order) Object.assign(done, { [name]: await runs[name]() });
        if (r === 0) {
          console.log(`round 0 (warm-up, not counted: ${order.join(', ')})`);
          continue;
        }
        const cpuOf = (name: Exclude<Name, 'floor'>): Cpu => {
          const { figure: _, ...cpu } = done[name];
          return cpu;
        };
        const round: Round = {
          floor: done.floor.figure,
          r11: done.r11.figure,
          r21: done.r21.figure,
          r116: done.r116.figure,
          r216: done.r216.figure,
          kms: done.kms.figure,
          cpu: cpuOf('r11'),
          cpu2: cpuOf('r21'),
          kmsCpu: cpuOf('kms'),
          cpu16: cpuOf('r116'),
          cpu216: cpuOf('r216'),
        };
        rounds.push(round);
        console.log(`round ${r} (${order.join(', ')})`);
        print('  floor: bare hono (parse, hash, answer)', round.floor, 'answers/s ');
        print('  1 API process, 1 merchant', round.r11);
        print('  2 API processes, 1 merchant', round.r21);
        print(`  1 API process, 1 merchant, KMS +${KMS_DELAY_MS} ms`, round.kms);
        print('  1 API process, 16 merchants', round.r116);
        print('  2 API processes, 16 merchants', round.r216);
      }
      const rss = await peakRss(pid);
      console.log(`${'peak RSS of that API process'.padEnd(40)} ${rss.toFixed(0)} MB`);
      return { rounds, rss };
    }),
  ),
).finally(() => kms.close());

/** Median over the rounds, and the range, of a figure taken per round. */
const summary = (values: number[], digits = 2) =>
  `${median(values).toFixed(digits)}${values.length > 1 ? ` (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})` : ''}`;
const per = (pick: (r: Round) => number) => rounds.map(pick);
const r11 = median(per((r) => r.r11.rate));
const r21 = median(per((r) => r.r21.rate));
/** A CPU measurement's medians over the rounds, and what it costs the machine in all. */
function medianCpu(pick: (r: Round) => Cpu) {
  const of = (field: keyof Cpu) => median(per((r) => pick(r)[field]));
  const [apiUs, postgresUs, wrkUs, benchUs] = [
    of('apiUs'),
    of('postgresUs'),
    of('wrkUs'),
    of('benchUs'),
  ];
  return { apiUs, postgresUs, wrkUs, benchUs, machineUs: apiUs + postgresUs + wrkUs };
}
const one = medianCpu((r) => r.cpu);
const two = medianCpu((r) => r.cpu2);
const kmsCpu = medianCpu((r) => r.kmsCpu);
const sixteen = medianCpu((r) => r.cpu16);
const sixteenTwo = medianCpu((r) => r.cpu216);

// Where the KMS figure's CPU goes on this machine: the KMS test endpoint runs in this process
// (HTTP, JSON, an Ed25519 signature per call), work AWS would do elsewhere.
console.log(
  `\nCPU per receipt (medians): API process ${one.apiUs.toFixed(0)} µs with the local signer, ${kmsCpu.apiUs.toFixed(0)} µs with KMS; the KMS test endpoint (in the bench process) ${kmsCpu.benchUs.toFixed(0)} µs`,
);
// What bounds the ratios here: one process is held by about one core (its event loop); two
// share this machine's cores with PostgreSQL and wrk, at the costs measured above.
const cores = availableParallelism();
/** Receipts/s the machine's cores hold at a measurement's cost per receipt. */
const ceiling = (c: { machineUs: number }) => (cores * 1e6) / c.machineUs;
const costs = (c: ReturnType<typeof medianCpu>) =>
  `PostgreSQL ${c.postgresUs.toFixed(0)} µs, wrk ${c.wrkUs.toFixed(0)} µs, ${c.machineUs.toFixed(0)} µs in all; ` +
  `${cores} cores hold at most ${Math.round(ceiling(c))} receipts/s at that cost`;
console.log(
  `  with the local signer, 1 process: ${costs(one)}, ` +
    `so with one process held by one core, 2 processes / 1 ≤ ${Math.min(2, (cores * one.apiUs) / one.machineUs).toFixed(2)} here`,
);
// Two processes cost more per receipt than one (smaller batches queue on one merchant's
// chain-head lock; the processes share the cores with PostgreSQL and wrk): the bound at
// their own costs, and how much of it the run reached.
console.log(
  `  with the local signer, 2 processes: API ${two.apiUs.toFixed(0)} µs, ${costs(two)} ` +
    `(the runs reached ${Math.round((100 * r21) / ceiling(two))} % of it), ` +
    `so 2 processes / 1 ≤ ${(ceiling(two) / r11).toFixed(2)} here`,
);
// Sixteen merchants against one: the same work per receipt, but each batch carries every
// merchant's chain head (a lock, a read and an update each).
console.log(
  `  16 merchants, 1 process: API ${sixteen.apiUs.toFixed(0)} µs, ${costs(sixteen)}\n` +
    `  16 merchants, 2 processes: API ${sixteenTwo.apiUs.toFixed(0)} µs, ${costs(sixteenTwo)}`,
);
console.log(`\nratios, median of ${ROUNDS} rounds (range) (issue 14 target in brackets):`);
console.log(
  `  1 process, 1 merchant / floor        ${summary(per((r) => r.r11.rate / r.floor.rate))}  [>= 0.35]`,
);
console.log(
  `  p99, 1 process, 1 merchant           ${summary(
    per((r) => r.r11.p99),
    1,
  )} ms  [<= 50 ms]`,
);
console.log(
  `  2 processes / 1, one merchant        ${summary(per((r) => r.r21.rate / r.r11.rate))}  [>= 1.3]`,
);
console.log(
  `  16 merchants / 1, one process        ${summary(per((r) => r.r116.rate / r.r11.rate))}  [>= 1]`,
);
console.log(
  `  16 merchants / 1, two processes      ${summary(per((r) => r.r216.rate / r.r21.rate))}  [>= 1]`,
);
console.log(
  `  KMS +${KMS_DELAY_MS} ms / local signer            ${summary(per((r) => r.kms.rate / r.r11.rate))}  [>= 0.8]`,
);
console.log(`  peak RSS of one API process          ${rss.toFixed(0)} MB  [<= 200 MB]`);

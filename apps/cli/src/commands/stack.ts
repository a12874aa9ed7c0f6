import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type Launched, prefixingLauncher, startStack } from '../stack';
import { UsageError } from '../usage';

/**
 * `quittance stack` (`npm run stack`): two API processes and a worker against this machine's
 * PostgreSQL and Redis. Ctrl-C stops them gracefully.
 */
export async function stackCommand(argv: string[]): Promise<number> {
  let values: { apis?: string; workers?: string };
  try {
    values = parseArgs({
      args: argv,
      options: { apis: { type: 'string' }, workers: { type: 'string' } },
    }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const apis = Number(values.apis ?? 2);
  // Every child is stopped on Ctrl-C, also when it comes before the stack is up.
  const children: Launched[] = [];
  const launch = prefixingLauncher(processNames(apis));
  let stopping: Promise<number> | undefined;
  const stopAll = () => {
    stopping ??= Promise.all(children.map((child) => child.stop('SIGTERM'))).then((codes) =>
      codes.every((code) => code === 0) ? 0 : 1,
    );
    return stopping;
  };
  const interrupted = new Promise<number>((resolveStop) => {
    process.once('SIGINT', () => void stopAll().then(resolveStop));
    process.once('SIGTERM', () => void stopAll().then(resolveStop));
  });
  const basePort = Number(process.env.PORT ?? 8787);
  const stack = await startStack({
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/quittance',
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    dataDir: resolve(process.env.QUITTANCE_DATA_DIR ?? './.quittance-stack'),
    ports: Array.from({ length: apis }, (_, i) => basePort + i),
    workers: Number(values.workers ?? 1),
    env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
    launch: (command, args, options) => {
      const launched = launch(command, args, options);
      children.push(launched);
      return launched;
    },
  });
  const demo = await setUpDemo(stack.publicUrl, stack.adminToken);
  process.stdout.write(
    [
      `Quittance stack: ${stack.apis.length} API processes, ${stack.workers.length} worker, PostgreSQL and Redis of this machine`,
      ...stack.apis.map((a) => `  API  ${a.url}   (${a.url}/metrics, ${a.url}/readyz)`),
      `  jobs on Redis; admin token in QUITTANCE_ADMIN_TOKEN or ${process.env.QUITTANCE_DATA_DIR ?? './.quittance-stack'}/admin-token`,
      ...(demo ? [`  demo merchant "demo" key (shown once): ${demo}`] : []),
      '  Ctrl-C stops every process gracefully.',
      '',
    ].join('\n'),
  );
  return interrupted;
}

/** A demo merchant on the first start, with a merchant key printed once. */
async function setUpDemo(url: string, adminToken: string): Promise<string | undefined> {
  const headers = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
  const created = await fetch(`${url}/admin/v1/merchants`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ merchantId: 'demo', jurisdiction: 'EU' }),
  });
  if (created.status !== 201) return undefined;
  const key = await fetch(`${url}/admin/v1/merchants/demo/api-keys`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ role: 'merchant' }),
  });
  return ((await key.json()) as { apiKey: string }).apiKey;
}

/** api-1, api-2, …, then worker-1, … in launch order. */
function processNames(apis: number): () => string {
  let n = 0;
  return () => {
    n++;
    return n <= apis ? `api-${n}` : `worker-${n - apis}`;
  };
}

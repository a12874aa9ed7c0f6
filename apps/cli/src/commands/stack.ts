import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type Launched, prefixingLauncher, startStack } from '../stack';
import { UsageError, wholeNumber } from '../usage';

/** API processes or workers one stack starts, at most: a machine's worth. */
const MAX_PROCESSES = 64;

/**
 * `quittance stack` (`npm run stack`): two API processes and a worker, each with its own data
 * folder, against this machine's PostgreSQL and Redis and an S3-protocol bundle store: the
 * one QUITTANCE_BUNDLE_STORE names, or else an S3 endpoint this command serves itself on
 * 127.0.0.1 (s3rver, as the tests use). Children run the same script as this command (the
 * compiled build, or the sources through tsx). Ctrl-C stops them gracefully.
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
  // Checked before anything starts: a bad count or port is one line, not a half-started stack.
  const apis = wholeNumber('--apis', values.apis, { min: 1, max: MAX_PROCESSES, fallback: 2 });
  const workers = wholeNumber('--workers', values.workers, {
    min: 0,
    max: MAX_PROCESSES,
    fallback: 1,
  });
  // One port per API process, from PORT up.
  const basePort = wholeNumber('PORT', process.env.PORT, {
    min: 1,
    max: 65_536 - apis,
    fallback: 8787,
  });
  const shown = process.env.QUITTANCE_DATA_DIR ?? './.quittance-stack';
  const dataDir = resolve(shown);
  // Every child is stopped on Ctrl-C, also when it comes before the stack is up.
  const children: Launched[] = [];
  const launch = prefixingLauncher(processNames(apis));
  const s3 = process.env.QUITTANCE_BUNDLE_STORE
    ? undefined
    : await startLocalS3(join(dataDir, 's3'));
  let stopping: Promise<number> | undefined;
  const stopAll = () => {
    stopping ??= Promise.all(children.map((child) => child.stop('SIGTERM'))).then(async (codes) => {
      await s3?.close();
      return codes.every((code) => code === 0) ? 0 : 1;
    });
    return stopping;
  };
  const interrupted = new Promise<number>((resolveStop) => {
    process.once('SIGINT', () => void stopAll().then(resolveStop));
    process.once('SIGTERM', () => void stopAll().then(resolveStop));
  });
  const stack = await startStack({
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/quittance',
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    dataDir,
    ports: Array.from({ length: apis }, (_, i) => basePort + i),
    workers,
    bundleStore: s3?.env ?? {},
    env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
    // The children run what this process runs: `node dist/app/quittance.js` after
    // `npm run build`, or bin/quittance.js (tsx) from the sources.
    entry: { script: process.argv[1] as string, execArgv: process.execArgv },
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
      `  data folders: ${shown}/api-N, ${shown}/worker-N (one per process, nothing shared on disk)`,
      s3
        ? `  bundles: S3 endpoint of this stack ${s3.endpoint} (bucket quittance, objects in ${s3.directory})`
        : `  bundles: ${process.env.QUITTANCE_BUNDLE_STORE}`,
      `  jobs on Redis; admin token in QUITTANCE_ADMIN_TOKEN or ${shown}/admin-token; keys wrapped by QUITTANCE_LOCAL_KEK or ${shown}/local-kek`,
      ...(demo ? [`  demo merchant "demo" key (shown once): ${demo}`] : []),
      '  Ctrl-C stops every process gracefully.',
      '',
    ].join('\n'),
  );
  return interrupted;
}

/**
 * The S3 of this machine, as PostgreSQL and Redis are its own: an S3-protocol endpoint on
 * 127.0.0.1 (s3rver from the test tooling, loaded only here). It accepts any signature from
 * its one account: for a stack on one's own machine, never as a real bucket.
 */
async function startLocalS3(directory: string) {
  const { startS3Server } = await import('@quittance/test-tooling');
  const server = await startS3Server({ buckets: ['quittance'], directory });
  return {
    endpoint: server.endpoint,
    directory: server.directory,
    close: () => server.close(),
    env: {
      QUITTANCE_BUNDLE_STORE: 's3://quittance/exports',
      AWS_ENDPOINT_URL_S3: server.endpoint,
      AWS_REGION: server.region,
      AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
    },
  };
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

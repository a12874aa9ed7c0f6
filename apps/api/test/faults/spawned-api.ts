import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, type Spawned, spawnProcess } from '@quittance/test-tooling';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
export const QUITTANCE_BIN = join(
  resolve(import.meta.dirname, '../../../..'),
  'node_modules/.bin/quittance',
);

export interface SpawnedApi {
  /** The current process (a new one after `restart`). */
  api: Spawned;
  base: string;
  /** A merchant and a merchant API key, made through the admin API. */
  merchant(merchantId: string): Promise<string>;
  /** SIGTERM, wait for the exit, and start again on the same port and data folder. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface SpawnedApiOptions {
  /** QUITTANCE_DATA_DIR (a file system of the test's own); a fresh temporary folder otherwise. */
  dataDir?: string;
}

/**
 * `quittance serve` as its own process (the fault under test must not take the test down
 * with it), with in-process jobs, a fresh data folder and `env` on top of this one's.
 */
export async function startSpawnedApi(
  env: Record<string, string>,
  options: SpawnedApiOptions = {},
): Promise<SpawnedApi> {
  const dir = await mkdtemp(join(tmpdir(), 'quittance-fault-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const full: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    QUITTANCE_DATA_DIR: options.dataDir ?? join(dir, 'data'),
    QUITTANCE_ADMIN_TOKEN: ADMIN_TOKEN,
    LOG_LEVEL: 'error',
    ...env,
  };
  delete full.REDIS_URL;
  const start = async () => {
    const child = spawnProcess(QUITTANCE_BIN, ['serve'], { cwd: dir, env: full });
    await child.waitFor(/serving on/, 60_000);
    return child;
  };
  const admin = (path: string, body: unknown) =>
    fetch(`${base}/admin/v1${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then((r) => r.json());
  const spawned: SpawnedApi = {
    api: await start(),
    base,
    async merchant(merchantId) {
      await admin('/merchants', { merchantId, jurisdiction: 'EU' });
      return (await admin(`/merchants/${merchantId}/api-keys`, { role: 'merchant' })).apiKey;
    },
    async restart() {
      await spawned.api.stop('SIGTERM');
      spawned.api = await start();
    },
    async close() {
      await spawned.api.stop('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
  return spawned;
}

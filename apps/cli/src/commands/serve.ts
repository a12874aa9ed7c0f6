import { relative } from 'node:path';
import {
  API_BASE,
  type Config,
  ConfigError,
  loadConfig,
  type RunningServer,
  ServiceError,
  startServer,
  warnUnknownVariables,
} from '@quittance/api';
import { boundHeapGrowth } from '../heap-growth';
import { UsageError } from '../usage';

/** `quittance serve`: what `npm start` runs. Stops gracefully on SIGTERM and SIGINT. */
export async function serveCommand(argv: string[]): Promise<number> {
  if (argv.length > 0)
    throw new UsageError(`serve takes no arguments (configure it by environment)`);
  boundHeapGrowth();
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    // The variables that are wrong, without the usage text: it would bury them.
    if (error instanceof ConfigError) {
      process.stderr.write(`quittance: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const running = await startServer(config).catch((error: unknown) => {
    throw startFailure(config, error);
  });
  warnUnknownVariables(running.services.logger);
  try {
    process.stdout.write(await banner(config, running));
  } catch (error) {
    await running.close();
    throw new Error(`could not create the demo merchant: ${(error as Error).message}`, {
      cause: error,
    });
  }

  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      running.services.logger.info({ signal }, 'shutting down');
      running.close().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

/**
 * What a newcomer needs on the first start: the admin token (once) and a demo merchant
 * with a key and a curl line that issues a first receipt. Printed to stdout, not logged.
 */
async function banner(config: Config, running: RunningServer): Promise<string> {
  const { services, url } = running;
  const where = config.databaseUrl
    ? 'PostgreSQL'
    : `embedded PGlite in ${relative(process.cwd(), config.dataDir) || '.'}`;
  const lines = [
    `Quittance is serving on ${url}  (${where}, ${config.signingBackend} signer, ${config.redisUrl ? 'jobs on Redis' : 'jobs in-process'})`,
    `  API docs: ${url}/docs   OpenAPI: ${url}/openapi.json`,
  ];
  if (!services.admin.generated) {
    lines.push(
      config.adminToken
        ? '  Admin token: QUITTANCE_ADMIN_TOKEN'
        : `  Admin token: in ${relative(process.cwd(), config.dataDir)}/admin-token`,
    );
    return `${lines.join('\n')}\n`;
  }
  lines.push(
    `  Admin token (shown once; kept in ${relative(process.cwd(), config.dataDir)}/admin-token, mode 0600):`,
  );
  lines.push(`    ${services.admin.token}`);
  // Only "it exists already" is expected here (a data folder whose token file was removed);
  // anything else is a real failure and stops the start with its message.
  const demo = await services.keyRing
    .createMerchant({ merchantId: 'demo', jurisdiction: 'EU', name: 'Demo store' })
    .catch((error: unknown) => {
      if (error instanceof ServiceError && error.code === 'merchant_exists') return null;
      throw error;
    });
  if (demo) {
    const { apiKey } = await services.apiKeys.create('demo', 'merchant');
    const body = JSON.stringify({
      callId: 'call-1',
      agentId: 'agent-1',
      bucket: 'checkout',
      tool: 'complete_checkout',
      orderId: 'order-1',
      input: { cart: 'c-1', items: [{ sku: 'A-1', qty: 2 }] },
      output: { ok: true, total: '19.90' },
    });
    lines.push(`  Demo merchant "demo" (EU) with a merchant API key (shown once):`);
    lines.push(`    ${apiKey}`);
    lines.push('  Issue a first receipt:');
    lines.push(
      `    curl -s -X POST ${url}${API_BASE}/receipts -H 'Authorization: Bearer ${apiKey}' -H 'Content-Type: application/json' -d '${body}'`,
    );
    lines.push('  Fetch the receipts of that order:');
    lines.push(
      `    curl -s ${url}${API_BASE}/receipts/by-order/order-1 -H 'Authorization: Bearer ${apiKey}' > order.json`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * One line an operator can act on when the data folder is out of space (the embedded
 * database's StorageFullError carries what it found and needs; Node's ENOSPC from a key or
 * token file does not). Other errors are left as they are.
 */
function startFailure(config: Config, error: unknown): unknown {
  const e = error as {
    code?: unknown;
    freeBytes?: unknown;
    neededBytes?: unknown;
    message?: unknown;
  };
  if (e?.code !== 'ENOSPC') return error;
  const what =
    typeof e.freeBytes === 'number' && typeof e.neededBytes === 'number'
      ? `${mib(e.freeBytes)} free, the embedded database needs ${mib(e.neededBytes)}`
      : String(e.message ?? 'no space left on device').split('\n', 1)[0];
  return new Error(
    `the data folder ${config.dataDir} is out of space: ${what} (free space there, set QUITTANCE_DATA_DIR to a larger disk, or set DATABASE_URL)`,
    { cause: error },
  );
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

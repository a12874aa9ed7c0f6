import { type Config, ConfigError, loadConfig, warnUnknownVariables } from './config';
import { createQueue, startJobs } from './jobs/runtime';
import { createServices } from './services';

/**
 * The job process of the production shape: the same handlers the API runs in-process without
 * Redis, here on BullMQ. Stops gracefully on SIGTERM: running jobs finish, pools close.
 */
export async function runWorker(
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`quittance worker: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (!config.redisUrl) {
    process.stderr.write(
      'quittance worker: REDIS_URL is required (without it the API runs the jobs itself)\n',
    );
    return 2;
  }
  const services = await createServices(config, {});
  warnUnknownVariables(services.logger, env);
  const jobs = await startJobs(services, await createQueue(services));
  // On stdout, not in the log: a launcher waits for this line whatever LOG_LEVEL says.
  process.stdout.write(
    `Quittance worker started (queue ${config.queueName}, ${services.timestamper ? `TSA ${config.tsaUrl}` : 'no TSA: receipts stay signed'})\n`,
  );
  return new Promise<number>((resolve) => {
    const stop = async (signal: string) => {
      services.logger.info({ signal }, 'worker stopping');
      services.state.shuttingDown = true;
      await jobs.close();
      await services.close();
      services.logger.info('worker stopped');
      resolve(0);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });
}

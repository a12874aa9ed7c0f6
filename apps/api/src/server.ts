import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Config, defaultPublicUrl } from './config';
import { describeError } from './describe-error';
import { createApp } from './http/app';
import {
  answerClientErrors,
  appRequestListener,
  continueWhenRead,
  refuseConnection,
} from './http/client-errors';
import { capConnections } from './http/connection-cap';
import { gracefulClose } from './http/graceful-close';
import { createQueue, startJobs } from './jobs/runtime';
import { createServices, type ServiceOptions, type Services } from './services';

export interface RunningServer {
  url: string;
  port: number;
  services: Services;
  /** Graceful stop: unready first, stop accepting, finish in-flight requests, close pools. */
  close(): Promise<void>;
}

/** Builds the services, serves the app, and stops gracefully on demand. */
export async function startServer(
  config: Config,
  options: ServiceOptions = {},
): Promise<RunningServer> {
  const services = await createServices(config, options);
  // Without Redis the jobs run here; with it, in `quittance worker` processes (worker.ts).
  const jobs = config.redisUrl ? undefined : await startJobs(services, await createQueue(services));
  const app = createApp(services);
  const server = await new Promise<Server>((resolve, reject) => {
    // What @hono/node-server's serve() does, with a listener that answers the requests the
    // adapter cannot read as problem+json (http/client-errors.ts).
    const s = createServer(
      {
        // A client that sends its request slowly, or announces more body than it sends,
        // is cut off after the request timeout (Node's default is 300 s), checked each second.
        requestTimeout: config.requestTimeoutMs,
        headersTimeout: Math.min(10_000, config.requestTimeoutMs),
        connectionsCheckingInterval: 1_000,
        // Checked by the listener, which answers problem+json where Node's answer is bare.
        requireHostHeader: false,
      },
      appRequestListener(app.fetch, { hostname: config.host, logger: services.logger }),
    );
    continueWhenRead(s);
    s.listen(config.port, config.host, () => {
      s.off('error', reject);
      resolve(s);
    });
    // A port in use or a host that is not this machine's: one line, after closing what opened.
    s.once('error', reject);
  }).catch(async (error: NodeJS.ErrnoException) => {
    await jobs?.close();
    await services.close().catch(() => {});
    throw new Error(
      `cannot listen on ${config.host} port ${config.port} (HOST, PORT): ${error.code ?? error.message}`,
    );
  });
  answerClientErrors(server);
  // Longer than a load balancer's idle timeout (60 s on AWS), so it never reuses a closed one.
  server.keepAliveTimeout = 65_000;
  capConnections(server, {
    max: config.maxConnections,
    // Long enough for a slow reader's steps (connection-cap.ts noteProgress): 120 s by default.
    writeTimeoutMs: 4 * config.requestTimeoutMs,
    stuckAfterMs: config.requestTimeoutMs,
    refuse: refuseConnection,
  });
  // Connections may still be accepted for a fifth of the deadline while they keep arriving.
  const closeServer = gracefulClose(server, { acceptForMs: config.shutdownTimeoutMs / 5 });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  // PORT=0 without QUITTANCE_PUBLIC_URL: receipts name the port bound, not port 0.
  if (config.port === 0 && config.publicUrlFollowsPort)
    services.config.publicUrl = defaultPublicUrl(port);
  let closing: Promise<void> | undefined;
  const drain = async () => {
    services.state.shuttingDown = true;
    // Give load balancers a moment to see /readyz fail before the listener goes away.
    if (config.shutdownDelayMs) await new Promise((r) => setTimeout(r, config.shutdownDelayMs));
    await closeServer();
    await jobs?.close();
    try {
      await services.close();
    } catch (error) {
      services.logger.warn({ err: describeError(error) }, 'closing the database failed');
    }
    const { batches, appended, transactionMs } = services.appender.stats;
    services.logger.info(
      {
        batches,
        appended,
        meanBatch: batches ? appended / batches : 0,
        meanTransactionMs: batches ? transactionMs / batches : 0,
      },
      'stopped',
    );
  };
  // Drain, but never for longer than the deadline: a hung KMS call or a client that never
  // finishes must not keep a stopping process alive (orchestrators kill it anyway).
  const close = () => {
    closing ??= new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => {
        services.logger.warn(
          { timeoutMs: config.shutdownTimeoutMs },
          'shutdown deadline passed; closing what is still open',
        );
        server.closeAllConnections();
        resolve();
      }, config.shutdownTimeoutMs);
      deadline.unref();
      drain()
        .then(resolve, reject)
        .finally(() => clearTimeout(deadline));
    });
    return closing;
  };
  return { url, port, services, close };
}

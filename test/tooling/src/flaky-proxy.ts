import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FlakyProxy {
  url: string;
  /** Requests seen, failed or forwarded. */
  readonly requests: number;
  /**
   * Fail the next `count` requests: with this HTTP status (and this Retry-After), or by
   * dropping the connection.
   */
  failNext(count: number, how: number | 'drop', retryAfter?: string): void;
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A real HTTP proxy in front of a server that fails requests on demand, to test retries. */
export async function startFlakyProxy(target: string): Promise<FlakyProxy> {
  let requests = 0;
  let failures = 0;
  let how: number | 'drop' = 503;
  let retryAfter: string;
  const server: Server = createServer(async (req, res) => {
    requests++;
    const payload = await body(req);
    if (failures > 0) {
      failures--;
      if (how === 'drop') return void req.socket.destroy();
      res.writeHead(how, { 'content-type': 'application/problem+json', 'retry-after': retryAfter });
      return void res.end(
        JSON.stringify({
          type: 'about:blank',
          title: 'flaky',
          status: how,
          code: 'service_unavailable',
        }),
      );
    }
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'connection') as [
        string,
        string,
      ][],
    );
    const upstream = await fetch(`${target}${req.url}`, {
      method: req.method,
      headers,
      ...(payload.length ? { body: new Uint8Array(payload) } : {}),
    });
    res.writeHead(upstream.status, Object.fromEntries(upstream.headers));
    res.end(Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get requests() {
      return requests;
    },
    failNext(count, failure, after = '0') {
      failures = count;
      how = failure;
      retryAfter = after;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

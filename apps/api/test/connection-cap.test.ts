import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  answerClientErrors,
  appRequestListener,
  continueWhenRead,
  refuseConnection,
} from '../src/http/client-errors';
import { capConnections } from '../src/http/connection-cap';

/**
 * The connection cap and the write timeout (http/connection-cap.ts), on a server made as
 * server.ts makes it, with an app that answers 32 MB on /big and reads a body on POST. An
 * outside retest held every slot of a capped server with large answers it never read, and
 * with heads whose bodies never came.
 */

const MAX = 4;
const WRITE_TIMEOUT_MS = 4_000;
const STUCK_AFTER_MS = 1_000;
const BIG = new Uint8Array(32 * 1024 * 1024).fill(120);

let server: Server;
let port: number;
/** Requests to /count that ran. */
let ran = 0;

beforeAll(async () => {
  const fetch = async (request: Request) => {
    const path = new URL(request.url).pathname;
    if (path === '/count') ran++;
    // A route that acts without reading the body (as a key rotation may), then answers.
    if (path === '/ignore')
      return new Promise<Response>((r) => setTimeout(() => r(new Response('acted')), 500));
    if (request.method === 'POST') return new Response(`read ${(await request.text()).length}`);
    return new Response(new URL(request.url).pathname === '/big' ? BIG : 'ok');
  };
  server = createServer(
    { requireHostHeader: false },
    appRequestListener(fetch, { hostname: '127.0.0.1', logger: pino({ level: 'silent' }) }),
  );
  answerClientErrors(server);
  continueWhenRead(server);
  server.on('connection', (socket: Socket) => serverEnd.set(socket.remotePort as number, socket));
  capConnections(server, {
    max: MAX,
    writeTimeoutMs: WRITE_TIMEOUT_MS,
    stuckAfterMs: STUCK_AFTER_MS,
    refuse: refuseConnection,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const GET = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

/** A connection that has sent `text` and reads nothing. */
const holding = (text: string) =>
  new Promise<Socket>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(text);
      resolve(socket);
    });
    socket.pause();
    socket.on('error', () => {});
  });

/** The server's end of a client's connection. */
const serverEnd = new Map<number, Socket>();
const serverSide = (client: Socket) => serverEnd.get(client.localPort as number) as Socket;

/** Resolves once the server has closed its end of `client` (true), or after `ms` (false). */
const closedWithin = (client: Socket, ms: number) =>
  new Promise<boolean>((resolve) => {
    const end = serverSide(client);
    if (end.destroyed) resolve(true);
    end.once('close', () => resolve(true));
    setTimeout(() => resolve(false), ms).unref();
  });

/** One request on a new connection: the status it got, or '' when the connection was reset. */
const newClient = (path = '/small') =>
  new Promise<string>((resolve) => {
    let reply = '';
    const socket = connect(port, '127.0.0.1', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    socket.on('data', (chunk) => {
      reply += chunk;
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve(reply.slice(9, 12)));
  });

const POST_HEAD =
  'POST /body HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n';

describe('the write timeout', { timeout: 15_000 }, () => {
  it('closes a connection whose client reads none of a large answer, after the timeout', async () => {
    const socket = await holding(GET('/big'));
    await sleep(200);
    expect(await closedWithin(socket, WRITE_TIMEOUT_MS - 1_000)).toBe(false);
    // The timeout, plus up to a second for the once-a-second look.
    expect(await closedWithin(socket, 3_000)).toBe(true);
    socket.destroy();
  });

  it('never cuts off a client that reads, with pauses shorter than the timeout', async () => {
    const received = await new Promise<number>((resolve) => {
      let bytes = 0;
      const socket = connect(port, '127.0.0.1', () =>
        socket.write('GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      );
      socket.pause();
      // Reads for 50 ms every 2 s: stuck most of the time, never for the timeout.
      const reading = setInterval(() => {
        socket.resume();
        setTimeout(() => socket.pause(), 50);
      }, 2_000);
      socket.on('data', (chunk) => {
        bytes += chunk.length;
      });
      socket.on('close', () => {
        clearInterval(reading);
        resolve(bytes);
      });
    });
    expect(received).toBeGreaterThan(BIG.length);
  });
});

describe('past the cap', { timeout: 15_000 }, () => {
  // Each test starts once the previous one's connections are gone on the server's side.
  beforeEach(async () => {
    for (let i = 0; i < 100; i++) {
      const open = await new Promise<number>((resolve) =>
        server.getConnections((_error, count) => resolve(count)),
      );
      if (open === 0) return;
      await sleep(50);
    }
  });

  const fill = async (text: string) => {
    const held: Socket[] = [];
    for (let i = 0; i < MAX; i++) {
      held.push(await holding(text));
      await sleep(20);
    }
    await sleep(200);
    return held;
  };

  it('connections whose request bodies have not come give way at once, the oldest first', async () => {
    const held = await fill(POST_HEAD);
    expect(await newClient()).toBe('200');
    expect(await closedWithin(held[0] as Socket, 500)).toBe(true);
    expect(await closedWithin(held[1] as Socket, 200)).toBe(false);
    for (const s of held) s.destroy();
  });

  // Found by a review: a request the app acts on without reading its body has run.
  it('connections whose bodies the app does not wait for are kept: the new client is refused', async () => {
    const held = await fill(POST_HEAD.replace('/body', '/ignore'));
    expect(await newClient()).toBe('503');
    for (const s of held) expect(serverSide(s).destroyed).toBe(false);
    for (const s of held) s.destroy();
  });

  // Found by a review: Node hands an Expect: 100-continue request to 'checkContinue', not
  // 'request', so the cap never saw it arrive, and took the connection for its oldest.
  it('a request with Expect: 100-continue counts as the connection’s latest', async () => {
    const expecting = await holding('');
    await sleep(20);
    const silent = [await holding(''), await holding(''), await holding('')];
    await sleep(20);
    expecting.write(POST_HEAD.replace('\r\n\r\n', '\r\nExpect: 100-continue\r\n\r\n'));
    await sleep(200);
    expect(await newClient()).toBe('200');
    expect(await closedWithin(silent[0] as Socket, 500)).toBe(true);
    expect(serverSide(expecting).destroyed).toBe(false);
    for (const s of [expecting, ...silent]) s.destroy();
  });

  it('connections whose answers are moving are kept: the new client is refused', async () => {
    const held = await fill(GET('/big'));
    expect(await newClient()).toBe('503');
    for (const s of held) expect(serverSide(s).destroyed).toBe(false);
    for (const s of held) s.destroy();
  });

  it('connections whose answers have been stuck give way, the oldest first', async () => {
    const held = await fill(GET('/big'));
    await sleep(STUCK_AFTER_MS + 1_100);
    expect(await newClient()).toBe('200');
    expect(await closedWithin(held[0] as Socket, 500)).toBe(true);
    expect(await closedWithin(held[1] as Socket, 200)).toBe(false);
    for (const s of held) s.destroy();
  });

  // Was a reset, which left the client unsure whether its request had run.
  it('a refused client gets 503 problem+json with Retry-After, and its request does not run', async () => {
    const held = await fill(GET('/big'));
    const reply = await new Promise<string>((resolve) => {
      let text = '';
      const socket = connect(port, '127.0.0.1', () =>
        socket.write('GET /count HTTP/1.1\r\nHost: x\r\n\r\n'),
      );
      socket.on('data', (chunk) => {
        text += chunk;
      });
      socket.on('error', () => {});
      socket.on('close', () => resolve(text));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 503 /);
    expect(reply).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(reply).toMatch(/\r\nconnection: close\r\n/i);
    expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)).code).toBe('service_unavailable');
    await sleep(100);
    expect(ran).toBe(0);
    for (const s of held) s.destroy();
  });

  it('a flood of refused clients gets answers or resets, never more than the headroom held', async () => {
    const held = await fill(GET('/big'));
    const counts: number[] = [];
    const probe = setInterval(
      () => server.getConnections((_error, count) => counts.push(count)),
      20,
    );
    const replies = await Promise.all(Array.from({ length: 40 }, () => newClient('/count')));
    clearInterval(probe);
    // Node's own cap is MAX + 8 here: the refused linger in half of those 8 at most.
    expect(Math.max(...counts)).toBeLessThanOrEqual(MAX + 4 + 1);
    expect(replies.filter((r) => r === '503').length).toBeGreaterThan(0);
    expect(replies.every((r) => r === '503' || r === '')).toBe(true);
    expect(ran).toBe(0);
    for (const s of held) s.destroy();
  });
});

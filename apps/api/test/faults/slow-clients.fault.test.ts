import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '@quittance/test-tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { type RunningServer, startServer } from '../../src/server';
import { issueBody } from '../harness';

/**
 * Slow clients (a body at 1 byte/s, a Content-Length larger than what is sent) must not hold
 * a connection for Node's default 300 s: they are cut off after the request timeout, and the
 * server keeps answering everyone else meanwhile.
 */
const REQUEST_TIMEOUT_MS = 2_000;

let database: TestDatabase;
let running: RunningServer;
let dataDir: string;
let apiKey: string;

/** A server on the test database with its own data folder and these settings. */
const serve = (folder: string, settings: Record<string, string>) =>
  startServer(
    loadConfig({
      DATABASE_URL: database.url,
      QUITTANCE_DATA_DIR: folder,
      QUITTANCE_ADMIN_TOKEN: 'test-admin-token-0123456789abcdef',
      PORT: '0',
      LOG_LEVEL: 'silent',
      ...settings,
    }),
  );

beforeAll(async () => {
  database = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), 'quittance-slow-'));
  running = await serve(dataDir, {
    QUITTANCE_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
    QUITTANCE_MAX_CONNECTIONS: '40',
  });
  // A valid key, so that the issue handler really waits for the body.
  const admin = (path: string, body: unknown) =>
    fetch(`http://127.0.0.1:${running.port}/admin/v1${path}`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer test-admin-token-0123456789abcdef',
        'content-type': 'application/json',
      },
      body: JSON.stringify(body),
    }).then((r) => r.json());
  await admin('/merchants', { merchantId: 'slow', jurisdiction: 'EU' });
  apiKey = (await admin('/merchants/slow/api-keys', { role: 'merchant' })).apiKey;
});
afterAll(async () => {
  await running?.close();
  await database?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

/** Opens a raw connection; resolves with when and how the server ended it. */
function rawClient(
  send: (socket: Socket) => void,
  port = running.port,
): Promise<{ ms: number; reply: string }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let reply = '';
    const socket = connect(port, '127.0.0.1', () => send(socket));
    socket.on('data', (chunk) => {
      reply += chunk;
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve({ ms: Date.now() - started, reply }));
    setTimeout(() => reject(new Error('the server kept a slow client for 20 s')), 20_000).unref();
  });
}

/** The problem+json body of a raw HTTP reply. */
const problemOf = (reply: string) => JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4));

const head = (length: number) =>
  'POST /api/v1/trust/receipts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
  `Authorization: Bearer ${apiKey}\r\nContent-Length: ${length}\r\n\r\n`;

describe('slow clients', () => {
  it('a body sent at 1 byte/s is cut off after the request timeout with 408', async () => {
    let timer: NodeJS.Timeout | undefined;
    const result = await rawClient((socket) => {
      socket.write(head(1_000));
      timer = setInterval(() => socket.writable && socket.write('{'), 1_000);
    });
    clearInterval(timer);
    expect(result.ms).toBeLessThan(REQUEST_TIMEOUT_MS + 2_500);
    expect(result.reply).toMatch(/^HTTP\/1\.1 408/);
    expect(problemOf(result.reply)).toMatchObject({ status: 408, code: 'request_timeout' });
  });

  it.each([
    [
      'a request line without a slash',
      'GET healthz HTTP/1.1\r\nHost: x\r\n\r\n',
      400,
      'malformed_http',
    ],
    [
      'Content-Length with Transfer-Encoding',
      `${head(5)}`.replace('\r\n\r\n', '\r\nTransfer-Encoding: chunked\r\n\r\n'),
      400,
      'malformed_http',
    ],
    [
      'a NUL in a header',
      'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n',
      400,
      'malformed_http',
    ],
    [
      'headers over 16 KB',
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      'headers_too_large',
    ],
    [
      'an Expect other than 100-continue',
      `${head(2)}{}`.replace('\r\n\r\n', '\r\nExpect: something-else\r\n\r\n'),
      417,
      'expectation_failed',
    ],
  ])('%s is answered as problem+json by the HTTP parser', async (_what, request, status, code) => {
    const result = await rawClient((socket) => socket.write(request));
    expect(result.reply).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(result.reply).toMatch(/content-type: application\/problem\+json/i);
    expect(problemOf(result.reply)).toMatchObject({ status, code });
  });

  it('a Content-Length larger than the bytes sent is cut off the same way', async () => {
    const result = await rawClient((socket) => socket.write(`${head(5_000)}{"callId":`));
    expect(result.ms).toBeLessThan(REQUEST_TIMEOUT_MS + 2_500);
    expect(result.reply).toMatch(/^HTTP\/1\.1 408/);
  });

  it('headers that never finish are cut off too, while other clients are served', async () => {
    const stalled = Array.from({ length: 20 }, () =>
      rawClient((socket) => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n')),
    );
    const healthy = await fetch(`http://127.0.0.1:${running.port}/healthz`);
    expect(healthy.status).toBe(200);
    for (const result of await Promise.all(stalled))
      expect(result.ms).toBeLessThan(REQUEST_TIMEOUT_MS + 2_500);
  });

  const openSocket = (first?: string) =>
    new Promise<Socket>((resolve) => {
      const s = connect(running.port, '127.0.0.1', () => {
        if (first) s.write(first);
        resolve(s);
      });
      s.on('error', () => {});
    });
  /** Resolves once the server has closed `socket` (true), or after `ms` (false). */
  const closedWithin = (socket: Socket, ms: number) =>
    new Promise<boolean>((resolve) => {
      if (socket.destroyed) resolve(true);
      socket.once('close', () => resolve(true));
      setTimeout(() => resolve(false), ms).unref();
    });

  // Outside reviews locked every client out with connections that sent nothing, or only part
  // of a request's head, or issue heads whose bodies never came, reopened as the timeouts
  // closed them. Nothing has run on any of them, so they give way.
  it.each([
    [
      'that sent nothing, or part of a head',
      async () => [
        ...(await Promise.all(Array.from({ length: 20 }, () => openSocket()))),
        ...(await Promise.all(
          Array.from({ length: 20 }, () => openSocket('GET /healthz HTTP/1.1\r\nHost: x\r\n')),
        )),
      ],
    ],
    [
      'whose issue bodies have not come',
      async () => {
        const waiting: Socket[] = [];
        for (let i = 0; i < 40; i++) waiting.push(await openSocket(head(1_000)));
        return waiting;
      },
    ],
  ])('connections %s give way to a new client, the oldest first', async (_what, fill) => {
    // The previous test's connections are gone on the server's side first.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const held = await fill();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    const served = await rawClient((socket) =>
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
    );
    expect(served.reply).toMatch(/^HTTP\/1\.1 200/);
    expect(Date.now() - started).toBeLessThan(1_000);
    // The one closed for it is the connection that had waited longest.
    expect(await closedWithin(held[0] as Socket, 1_000)).toBe(true);
    expect(await closedWithin(held.at(-1) as Socket, 200)).toBe(false);
    for (const s of held) s.destroy();
  });

  // Found by the soak: as many idle keep-alive connections as the cap locked every other
  // client out for the keep-alive timeout (65 s).
  it('idle keep-alive connections up to the cap give way to a new client', async () => {
    const open = () =>
      new Promise<Socket>((resolve) => {
        const socket = connect(running.port, '127.0.0.1', () => resolve(socket));
        socket.on('error', () => {});
      });
    /** The answer to one request on `socket`, which stays open (keep-alive). */
    const ask = (socket: Socket) =>
      new Promise<string>((resolve) => {
        socket.once('data', (chunk) => resolve(String(chunk)));
        socket.once('close', () => resolve(''));
        socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      });
    // The previous test's 40 connections are gone on the server's side first.
    await new Promise((resolve) => setTimeout(resolve, 300));
    // A client pool warming up: 40 connections at once, then a request on each; all idle.
    const pool = await Promise.all(Array.from({ length: 40 }, open));
    for (const reply of await Promise.all(pool.map(ask))) expect(reply).toMatch(/^HTTP\/1\.1 200/);
    const started = Date.now();
    const next = await open();
    expect(await ask(next)).toMatch(/^HTTP\/1\.1 200/);
    expect(Date.now() - started).toBeLessThan(1_000);
    for (const s of [...pool, next]) s.destroy();
  });
});

describe('a body that has not arrived when the request budget ends', () => {
  const BUDGET_MS = 1_000;
  const TIMEOUT_MS = 4_000;
  let budgeted: RunningServer;
  beforeAll(async () => {
    // The defaults' order: the request budget (5 s) ends long before the request timeout (30 s).
    // The same data folder: the merchant's signing key is a file there.
    budgeted = await serve(dataDir, {
      QUITTANCE_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS),
      QUITTANCE_REQUEST_BUDGET_MS: String(BUDGET_MS),
    });
  });
  afterAll(() => budgeted?.close());

  it("has the request timeout to arrive: the budget is the work's, and starts once it is in", async () => {
    const body = JSON.stringify(issueBody({ callId: 'slow-upload-1' }));
    const half = Math.floor(body.length / 2);
    const result = await rawClient((socket) => {
      socket.write(
        `${head(body.length).replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}${body.slice(0, half)}`,
      );
      // The rest after twice the budget, well within the request timeout.
      setTimeout(() => socket.write(body.slice(half)), 2 * BUDGET_MS);
    }, budgeted.port);
    expect(result.reply).toMatch(/^HTTP\/1\.1 201/);
    expect(result.ms).toBeGreaterThanOrEqual(2 * BUDGET_MS);
  });

  it('so has a chunked body (read by the body limit, before the JSON reader)', async () => {
    const body = JSON.stringify(issueBody({ callId: 'slow-upload-chunked' }));
    const half = Math.floor(body.length / 2);
    const chunk = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
    const result = await rawClient((socket) => {
      socket.write(
        'POST /api/v1/trust/receipts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          `Authorization: Bearer ${apiKey}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
          chunk(body.slice(0, half)),
      );
      setTimeout(() => socket.write(`${chunk(body.slice(half))}0\r\n\r\n`), 2 * BUDGET_MS);
    }, budgeted.port);
    expect(result.reply).toMatch(/^HTTP\/1\.1 201/);
    expect(result.ms).toBeGreaterThanOrEqual(2 * BUDGET_MS);
  });

  it('one that never arrives is cut off at the request timeout: 408 request_timeout, the connection closed', async () => {
    const result = await rawClient(
      (socket) => socket.write(`${head(5_000)}{"callId":`),
      budgeted.port,
    );
    expect(result.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 100);
    expect(result.ms).toBeLessThan(TIMEOUT_MS + 2_500);
    expect(result.reply).toMatch(/^HTTP\/1\.1 408/);
    expect(result.reply).toMatch(/^connection: close/im);
    expect(problemOf(result.reply)).toMatchObject({ status: 408, code: 'request_timeout' });
  });
});

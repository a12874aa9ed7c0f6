import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QuittanceClient } from '../src';

// A real HTTP server that misbehaves after its answer's head: the client must turn what
// happens while the body arrives into its own typed errors, and retry what it may.
let server: Server;
let base: string;
const seen: Record<string, number> = {};

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '';
    seen[path] = (seen[path] ?? 0) + 1;
    if (path.includes('stall')) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"id":');
      return; // the rest never comes
    }
    if (path.includes('reset')) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"id":');
      setTimeout(() => req.socket.destroy(), 20);
      return;
    }
    if (path.includes('away')) {
      res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '5' });
      return void res.end('{"code":"service_unavailable","status":503}');
    }
    if (path.includes('later')) {
      res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '3600' });
      return void res.end('{"code":"service_unavailable","status":503}');
    }
    if (path.includes('html')) {
      res.writeHead(200, { 'content-type': 'text/html' });
      return void res.end('<html>log in</html>');
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const client = () =>
  new QuittanceClient({
    baseUrl: base,
    apiKey: 'k',
    attempts: 2,
    timeoutMs: 300,
    retryDelayMs: 10,
  });

describe('answers that break while their body arrives', () => {
  it('a body that stalls is a timeout, retried', async () => {
    await expect(client().getReceipt('stall')).rejects.toMatchObject({
      name: 'QuittanceError',
      code: 'timeout',
    });
    expect(seen['/api/v1/trust/receipts/stall']).toBe(2);
  });

  it('a connection reset mid-body is a network_error, retried', async () => {
    await expect(client().getOrderEvidence('reset')).rejects.toMatchObject({
      name: 'QuittanceError',
      code: 'network_error',
    });
    expect(seen['/api/v1/trust/receipts/by-order/reset/evidence']).toBe(2);
  });

  it('a 200 that is not JSON (a proxy login page) is invalid_response', async () => {
    await expect(client().getReceipt('html')).rejects.toMatchObject({
      name: 'QuittanceError',
      code: 'invalid_response',
      status: 200,
    });
  });

  it('waitForProof keeps to its timeoutMs whatever the retries and Retry-After of its asks', async () => {
    const started = Date.now();
    await expect(client().waitForProof('away', { timeoutMs: 300 })).rejects.toMatchObject({
      code: 'timeout',
    });
    // Each ask waited out Retry-After: 5 s inside its own retries before.
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('an option given as undefined keeps its default: Retry-After past 60 s is thrown at once', async () => {
    const lenient = new QuittanceClient({
      baseUrl: base,
      apiKey: 'k',
      maxRetryAfterMs: undefined,
      retryDelayMs: undefined,
    });
    await expect(lenient.getReceipt('later')).rejects.toMatchObject({
      code: 'service_unavailable',
      retryAfterMs: 3_600_000,
    });
    expect(seen['/api/v1/trust/receipts/later']).toBe(1);
  });

  it('verify asks for nothing but a snapshot, whatever URL the receipt names', async () => {
    const receipt = { jwksSnapshotUrl: 'https://evil.example/api/v1/trust/exports/E1/download' };
    await expect(client().verify(receipt as never)).rejects.toMatchObject({
      code: 'invalid_receipt',
    });
    expect(seen['/api/v1/trust/exports/E1/download']).toBeUndefined();
  });

  it('refuses settings that would make every request fail', () => {
    expect(() => new QuittanceClient({ baseUrl: base, apiKey: 'k', attempts: 0 })).toThrow(
      RangeError,
    );
    for (const timeoutMs of [0, 1.5, Number.POSITIVE_INFINITY, 3e9])
      expect(() => new QuittanceClient({ baseUrl: base, apiKey: 'k', timeoutMs })).toThrow(
        RangeError,
      );
    // A pin that failed to load is not "no pin".
    expect(() => new QuittanceClient({ baseUrl: base, apiKey: 'k', publisher: null })).toThrow();
  });
});

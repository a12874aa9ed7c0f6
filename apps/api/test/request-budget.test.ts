import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AppEnv } from '../src/http/env';
import { strictJsonBody } from '../src/http/json-body';
import { requestBudget } from '../src/http/middleware';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The budget through the real middleware: what runs before the body is read counts, as what
 * runs after it does; only the wait for the body is left out. Before, the budget started
 * again once the body was in, and a request whose authentication waited on the database
 * answered past it (an outside check saw 8–9 s of a 5 s budget).
 */
function app(beforeBodyMs: number, workMs: number) {
  const app = new Hono<AppEnv>();
  app.use('*', requestBudget(1_000));
  app.use('*', async (_c, next) => {
    await sleep(beforeBodyMs); // authentication, waiting on the database
    await next();
  });
  app.use('*', strictJsonBody);
  app.post('/work', async (c) => {
    await sleep(workMs);
    return c.json({ ok: true }, 201);
  });
  return app;
}

const post = (hono: Hono<AppEnv>, body: BodyInit) =>
  hono.request('/work', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    duplex: 'half',
  } as RequestInit);

describe('the request budget', () => {
  it('counts the work before the body is read: 600 + 600 ms of a 1 s budget is 503 at 1 s', async () => {
    const started = performance.now();
    const r = await post(app(600, 600), '{"a":1}');
    const ms = performance.now() - started;
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('1');
    expect(ms).toBeGreaterThanOrEqual(950);
  });

  it('leaves out the wait for the body: a body 1.5 s in coming, then 300 ms of work, is 201', async () => {
    const body = new ReadableStream({
      async start(controller) {
        controller.enqueue(new TextEncoder().encode('{"a":'));
        await sleep(1_500);
        controller.enqueue(new TextEncoder().encode('1}'));
        controller.close();
      },
    });
    const r = await post(app(300, 300), body);
    expect(r.status).toBe(201);
  });
});

import { createRoute, z } from '@hono/zod-openapi';
import { createRouter } from '../http/router';
import { jsonContent } from '../http/schemas';

const Status = z.object({ status: z.enum(['ok', 'unready']) });

const live = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['operations'],
  summary: 'Liveness: the process answers',
  responses: { 200: jsonContent(Status, 'Alive') },
});

const ready = createRoute({
  method: 'get',
  path: '/readyz',
  tags: ['operations'],
  summary: 'Readiness: the database answers and the process is not shutting down',
  responses: { 200: jsonContent(Status, 'Ready'), 503: jsonContent(Status, 'Not ready') },
});

export const health = createRouter()
  .openapi(live, (c) => c.json({ status: 'ok' as const }, 200))
  .openapi(ready, async (c) =>
    (await c.get('services').isReady())
      ? c.json({ status: 'ok' as const }, 200)
      : c.json({ status: 'unready' as const }, 503),
  );

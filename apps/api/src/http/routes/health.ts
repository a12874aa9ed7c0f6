import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../router';
import { HealthSchema, jsonContent } from '../schemas';

const live = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['operations'],
  summary: 'Liveness: the process answers',
  responses: { 200: jsonContent(HealthSchema, 'Alive') },
});

const ready = createRoute({
  method: 'get',
  path: '/readyz',
  tags: ['operations'],
  summary: 'Readiness: the database answers and the process is not shutting down',
  responses: {
    200: jsonContent(HealthSchema, 'Ready'),
    503: jsonContent(HealthSchema, 'Not ready'),
  },
});

export const health = createRouter({ lenient: true })
  .openapi(live, (c) => c.json({ status: 'ok' as const }, 200))
  .openapi(ready, async (c) =>
    (await c.get('services').isReady())
      ? c.json({ status: 'ok' as const }, 200)
      : c.json({ status: 'unready' as const }, 503),
  );

import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../router';
import { MetricsText } from '../schemas';

const route = createRoute({
  method: 'get',
  path: '/metrics',
  tags: ['operations'],
  summary: 'Prometheus metrics of this process',
  responses: {
    200: {
      description: 'Prometheus text format',
      content: { 'text/plain': { schema: MetricsText } },
    },
  },
});

export const metrics = createRouter({ lenient: true }).openapi(route, async (c) => {
  const { registry } = c.get('services').metrics;
  return c.body(await registry.metrics(), 200, { 'content-type': registry.contentType }) as never;
});

import { createRoute, z } from '@hono/zod-openapi';
import { createRouter } from '../http/router';
import { jsonContent } from '../http/schemas';

const route = createRoute({
  method: 'get',
  path: '/.well-known/quittance-publisher.json',
  tags: ['keys'],
  summary: 'The publisher key that signs snapshots: pin it',
  responses: {
    200: jsonContent(z.object({ keys: z.array(z.record(z.string(), z.string())) }), 'JWKS'),
  },
});

export const publisherKey = createRouter().openapi(route, async (c) => {
  const jwk = await c.get('services').publisher.publicJwk();
  c.header('cache-control', 'public, max-age=3600');
  return c.json({ keys: [jwk] }, 200);
});

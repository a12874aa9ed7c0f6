import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../http/router';
import { jsonContent, PublisherKeysSchema } from '../../http/schemas';

const route = createRoute({
  method: 'get',
  path: '/.well-known/quittance-publisher.json',
  tags: ['keys'],
  summary: 'The publisher key that signs snapshots: pin it',
  responses: {
    200: jsonContent(PublisherKeysSchema, 'JWKS'),
  },
});

export const publisherKey = createRouter().openapi(route, async (c) => {
  const jwk = await c.get('services').publisher.publicJwk();
  c.header('cache-control', 'public, max-age=3600');
  return c.json({ keys: [jwk] }, 200);
});

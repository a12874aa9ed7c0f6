import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../http/router';
import { JwksSchema, jsonContent } from '../../http/schemas';

const route = createRoute({
  method: 'get',
  path: '/.well-known/jwks.json',
  tags: ['keys'],
  summary: 'Public keys that verify receipts now (active and retired, not revoked)',
  responses: {
    200: jsonContent(JwksSchema, 'RFC 7517 JWKS'),
  },
});

export const jwks = createRouter().openapi(route, async (c) => {
  const keys = await c.get('services').keyRing.verifyingKeys();
  c.header('cache-control', 'public, max-age=60');
  return c.json({ keys }, 200);
});

import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../http/router';
import { ApiKeyPrefixParam, problems } from '../../http/schemas';

const route = createRoute({
  method: 'delete',
  path: '/api-keys/{prefix}',
  tags: ['admin'],
  summary: 'Revoke an API key by its prefix',
  security: [{ adminToken: [] }],
  request: {
    params: ApiKeyPrefixParam,
  },
  responses: { 204: { description: 'Revoked' }, ...problems(401, 404) },
});

export const revokeApiKey = createRouter().openapi(route, async (c) => {
  await c.get('services').apiKeys.revoke(c.req.valid('param').prefix);
  return c.body(null, 204);
});

import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../http/router';
import {
  ApiKeySchema,
  CreateApiKeyRequest,
  jsonBody,
  jsonContent,
  MerchantIdParam,
  problems,
} from '../../http/schemas';

const route = createRoute({
  method: 'post',
  path: '/merchants/{merchantId}/api-keys',
  tags: ['admin'],
  summary: 'Create an API key (shown once, stored as a hash)',
  security: [{ adminToken: [] }],
  request: {
    params: MerchantIdParam,
    body: jsonBody(CreateApiKeyRequest),
  },
  responses: {
    201: jsonContent(ApiKeySchema, 'Created; the key is not retrievable later'),
    ...problems(400, 401, 404, 413, 415),
  },
});

export const createApiKey = createRouter().openapi(route, async (c) => {
  const { role, agentId } = c.req.valid('json');
  const created = await c
    .get('services')
    .apiKeys.create(c.req.valid('param').merchantId, role, agentId);
  return c.json(created, 201);
});

import { createRoute } from '@hono/zod-openapi';
import type { JURISDICTIONS } from '@quittance/format';
import { createRouter } from '../../http/router';
import {
  CreateMerchantRequest,
  jsonBody,
  jsonContent,
  MerchantSchema,
  problems,
} from '../../http/schemas';

const route = createRoute({
  method: 'post',
  path: '/merchants',
  tags: ['admin'],
  summary: 'Create a merchant and its first signing key',
  security: [{ adminToken: [] }],
  request: {
    body: jsonBody(CreateMerchantRequest),
  },
  responses: {
    201: jsonContent(MerchantSchema, 'Created'),
    ...problems(400, 401, 409, 413, 415),
  },
});

export const createMerchant = createRouter().openapi(route, async (c) => {
  const created = await c.get('services').keyRing.createMerchant(c.req.valid('json'));
  return c.json(created as typeof created & { jurisdiction: (typeof JURISDICTIONS)[number] }, 201);
});

import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../http/router';
import { jsonContent, MerchantIdParam, problems, RotatedKeySchema } from '../../http/schemas';

const route = createRoute({
  method: 'post',
  path: '/merchants/{merchantId}/signing-keys/rotate',
  tags: ['admin'],
  summary: 'Retire the active signing key and activate a new one',
  security: [{ adminToken: [] }],
  request: {
    params: MerchantIdParam,
  },
  responses: {
    201: jsonContent(RotatedKeySchema, 'The new key'),
    ...problems(401, 404, 409),
  },
});

export const rotateSigningKey = createRouter().openapi(route, async (c) => {
  return c.json(await c.get('services').keyRing.rotate(c.req.valid('param').merchantId), 201);
});

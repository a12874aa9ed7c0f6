import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../http/router';
import { ChainCheckSchema, jsonContent, MerchantIdParam, problems } from '../../http/schemas';
import { checkChain as runCheck } from '../chain-check';

const route = createRoute({
  method: 'get',
  path: '/merchants/{merchantId}/chain-check',
  tags: ['admin'],
  summary: "Recompute every link of a merchant's audit log",
  security: [{ adminToken: [] }],
  request: {
    params: MerchantIdParam,
  },
  responses: {
    200: jsonContent(ChainCheckSchema, 'Result of the check'),
    ...problems(401, 404),
  },
});

export const checkChain = createRouter().openapi(route, async (c) => {
  return c.json(await runCheck(c.get('services').db, c.req.valid('param').merchantId), 200);
});

import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../http/router';
import { ChainCheckSchema, jsonContent, MerchantIdParam, problems } from '../../http/schemas';
import { assertMerchantExists } from '../../merchants/merchants';
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
  const { db } = c.get('services');
  const { merchantId } = c.req.valid('param');
  // An unknown merchant is 404, not a chain reported broken ("no chain head") to a monitor.
  await assertMerchantExists(db, merchantId);
  return c.json(await runCheck(db, merchantId), 200);
});

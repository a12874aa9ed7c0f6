import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../http/router';
import { jsonContent, problems, ReceiptIdParam, ReceiptSchema } from '../../http/schemas';

const route = createRoute({
  method: 'get',
  path: '/receipts/{id}',
  tags: ['receipts'],
  summary: 'One receipt, envelope included',
  security: [{ apiKey: [] }],
  request: { params: ReceiptIdParam },
  responses: { 200: jsonContent(ReceiptSchema, 'The receipt'), ...problems(401, 404) },
});

export const getReceipt = createRouter().openapi(route, async (c) => {
  const receipt = await c.get('services').receipts.get(c.get('principal'), c.req.valid('param').id);
  return c.json(receipt, 200);
});

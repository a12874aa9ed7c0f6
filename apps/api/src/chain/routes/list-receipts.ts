import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../http/router';
import { jsonContent, ListQuerySchema, problems, ReceiptPageSchema } from '../../http/schemas';

const route = createRoute({
  method: 'get',
  path: '/receipts',
  tags: ['receipts'],
  summary: 'List receipts, newest first',
  description:
    'Agent keys see only receipts that carry their agentId. Pages are stable under concurrent issuance.',
  security: [{ apiKey: [] }],
  request: { query: ListQuerySchema },
  responses: {
    200: jsonContent(ReceiptPageSchema, 'A page of receipts'),
    ...problems(400, 401),
  },
});

export const listReceipts = createRouter().openapi(route, async (c) => {
  const page = await c.get('services').receipts.list(c.get('principal'), c.req.valid('query'));
  return c.json(page, 200);
});

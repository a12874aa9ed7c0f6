import { createRoute, z } from '@hono/zod-openapi';
import { createRouter } from '../http/router';
import { jsonContent, ListQuerySchema, problems, ReceiptSchema } from '../http/schemas';

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
    200: jsonContent(
      z.object({ receipts: z.array(ReceiptSchema), nextCursor: z.string().nullable() }),
      'A page of receipts',
    ),
    ...problems(400, 401),
  },
});

export const listReceipts = createRouter().openapi(route, async (c) => {
  const page = await c.get('services').receipts.list(c.get('principal'), c.req.valid('query'));
  return c.json(page, 200);
});

import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../http/router';
import {
  jsonContent,
  NoQuery,
  OrderIdParam,
  OrderReceiptsSchema,
  problems,
} from '../../http/schemas';

const route = createRoute({
  method: 'get',
  path: '/receipts/by-order/{orderId}',
  tags: ['receipts'],
  summary: 'All receipts of an order, oldest first',
  description:
    'Answers the whole order, or 422 order_too_large; it takes no query parameters (page ' +
    'through GET /receipts?orderId= instead).',
  security: [{ apiKey: [] }],
  request: { params: OrderIdParam, query: NoQuery },
  responses: {
    200: jsonContent(OrderReceiptsSchema, 'Receipts of the order'),
    ...problems(400, 401, 404, 422),
  },
});

export const receiptsByOrder = createRouter().openapi(route, async (c) => {
  const { orderId } = c.req.valid('param');
  const json = await c
    .get('services')
    .orderListing.json(c.get('principal'), orderId, c.get('deadline')());
  return c.body(json, 200, {
    'content-type': 'application/json',
    'content-length': String(json.length),
  }) as never;
});

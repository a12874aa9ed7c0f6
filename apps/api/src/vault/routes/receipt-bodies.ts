import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../http/router';
import { jsonContent, problems, ReceiptBodiesSchema, ReceiptIdParam } from '../../http/schemas';

const route = createRoute({
  method: 'get',
  path: '/receipts/{id}/bodies',
  tags: ['receipts'],
  summary: 'The decrypted input and output bodies',
  description:
    'Merchant and auditor keys only. 410 once retention destroyed the data key of the month.',
  security: [{ apiKey: [] }],
  request: { params: ReceiptIdParam },
  responses: {
    200: jsonContent(ReceiptBodiesSchema, 'The bodies'),
    ...problems(401, 403, 404, 410),
  },
});

export const receiptBodies = createRouter().openapi(route, async (c) => {
  const bodies = await c.get('services').bodies.read(c.get('principal'), c.req.valid('param').id);
  return c.json(bodies, 200);
});

import { createRoute } from '@hono/zod-openapi';
import type { IssueRequest } from '@quittance/format';
import { assertRole, requireJson } from '../http/middleware';
import { createRouter } from '../http/router';
import { IssueRequestSchema, jsonContent, problems, ReceiptSchema } from '../http/schemas';

const route = createRoute({
  method: 'post',
  path: '/receipts',
  tags: ['receipts'],
  summary: 'Issue a receipt',
  description:
    'Signs, chains and stores a receipt for one agent call. Idempotent on `callId`: the same ' +
    'content again answers 200 with the first receipt; different content answers 409.',
  security: [{ apiKey: [] }],
  middleware: [requireJson] as const,
  request: {
    body: { required: true, content: { 'application/json': { schema: IssueRequestSchema } } },
  },
  responses: {
    201: jsonContent(ReceiptSchema, 'Issued'),
    200: jsonContent(ReceiptSchema, 'Replay of the first receipt for this callId'),
    ...problems(400, 401, 403, 409, 413, 415, 422, 503),
  },
});

export const issueReceipt = createRouter().openapi(route, async (c) => {
  const principal = c.get('principal');
  assertRole(principal, 'merchant');
  const request = c.req.valid('json') as IssueRequest;
  const { status, receipt } = await c.get('services').issuer.issue(principal.merchantId, request);
  return c.json(receipt, status);
});

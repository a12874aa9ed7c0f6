import { createRoute } from '@hono/zod-openapi';
import type { IssueRequest } from '@quittance/format';
import { requireRole } from '../../http/middleware';
import { createRouter } from '../../http/router';
import {
  IssueRequestSchema,
  jsonBody,
  jsonContent,
  problems,
  ReceiptSchema,
} from '../../http/schemas';
import { receiptJson } from '../record';

const route = createRoute({
  method: 'post',
  path: '/receipts',
  tags: ['receipts'],
  summary: 'Issue a receipt',
  description:
    'Signs, chains and stores a receipt for one agent call. Idempotent on `callId`: the same ' +
    'content again answers 200 with the first receipt; different content answers 409.',
  security: [{ apiKey: [] }],
  middleware: [requireRole('merchant')] as const,
  request: {
    body: jsonBody(IssueRequestSchema),
  },
  responses: {
    201: jsonContent(ReceiptSchema, 'Issued'),
    200: jsonContent(ReceiptSchema, 'Replay of the first receipt for this callId'),
    ...problems(400, 401, 403, 409, 413, 415, 422, 503),
  },
});

export const issueReceipt = createRouter().openapi(route, async (c) => {
  const principal = c.get('principal');
  const request = c.req.valid('json') as IssueRequest;
  const { issuer, metrics } = c.get('services');
  const started = performance.now();
  const { status, record } = await issuer.issue(principal.merchantId, request);
  const outcome = status === 201 ? 'created' : 'replay';
  metrics.issueLatency.observe({ outcome }, (performance.now() - started) / 1000);
  metrics.receiptsIssued.inc({ bucket: record.bucket, outcome });
  // The receipt's JSON text as c.json would write it, without parsing the signed members
  // again (record.ts); typed as the route's JSON answer, which it is.
  return c.body(receiptJson(record), status, { 'content-type': 'application/json' }) as never;
});

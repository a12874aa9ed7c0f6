import { createRoute } from '@hono/zod-openapi';
import { requireRole } from '../../http/middleware';
import { createRouter } from '../../http/router';
import {
  CreateExportRequest,
  ExportSchema,
  jsonBody,
  jsonContent,
  problems,
} from '../../http/schemas';

const route = createRoute({
  method: 'post',
  path: '/exports',
  tags: ['exports'],
  summary: 'Request an export bundle (merchant and auditor keys)',
  description:
    "The merchant's receipts inside the jurisdiction's retention window (EU 6 years, US 7, BR 5, " +
    'OTHER 10), narrowed by `from`, `to` and `orderId`. Built in the background; poll ' +
    '`GET /exports/{id}`, then download.',
  security: [{ apiKey: [] }],
  middleware: [requireRole('merchant', 'auditor')] as const,
  request: {
    body: jsonBody(CreateExportRequest),
  },
  responses: {
    202: jsonContent(ExportSchema, 'Accepted; building'),
    ...problems(400, 401, 403, 413, 415),
  },
});

export const createExport = createRouter().openapi(route, async (c) => {
  const created = await c.get('services').exports.create(c.get('principal'), c.req.valid('json'));
  return c.json(created, 202);
});

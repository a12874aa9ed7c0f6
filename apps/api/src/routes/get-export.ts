import { createRoute, z } from '@hono/zod-openapi';
import { JURISDICTIONS } from '@quittance/bundle';
import { toExportView } from '../exports/service';
import { createRouter } from '../http/router';
import { ExportIdParam, jsonContent, problems } from '../http/schemas';

export const ExportSchema = z
  .object({
    id: z.string(),
    status: z.enum(['queued', 'running', 'done', 'failed']),
    jurisdiction: z.enum(JURISDICTIONS),
    includeBodies: z.boolean(),
    from: z.string().nullable(),
    to: z.string().nullable(),
    orderId: z.string().nullable(),
    progress: z.object({ receipts: z.number(), total: z.number().nullable() }),
    bytes: z.number().nullable(),
    sha256: z.string().nullable().openapi({ description: 'SHA-256 of the zip, once done' }),
    error: z.string().nullable(),
    createdAt: z.string(),
    finishedAt: z.string().nullable(),
  })
  .openapi('Export');

const route = createRoute({
  method: 'get',
  path: '/exports/{id}',
  tags: ['exports'],
  summary: 'Status and progress of an export',
  security: [{ apiKey: [] }],
  request: { params: ExportIdParam },
  responses: { 200: jsonContent(ExportSchema, 'The export'), ...problems(401, 404) },
});

export const getExport = createRouter().openapi(route, async (c) => {
  const row = await c.get('services').exports.get(c.get('principal'), c.req.valid('param').id);
  return c.json(toExportView(row), 200);
});

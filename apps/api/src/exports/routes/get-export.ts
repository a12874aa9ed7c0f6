import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../http/router';
import { ExportIdParam, ExportSchema, jsonContent, problems } from '../../http/schemas';
import { toExportView } from '../service';

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

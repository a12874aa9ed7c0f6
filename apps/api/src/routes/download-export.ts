import { Readable } from 'node:stream';
import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../http/router';
import { ExportIdParam, problems } from '../http/schemas';

const route = createRoute({
  method: 'get',
  path: '/exports/{id}/download',
  tags: ['exports'],
  summary: 'Download the bundle (zip, SPEC §9)',
  security: [{ apiKey: [] }],
  request: { params: ExportIdParam },
  responses: {
    200: {
      description: 'The bundle',
      content: { 'application/zip': { schema: { type: 'string', format: 'binary' } } },
    },
    ...problems(401, 404, 409),
  },
});

export const downloadExport = createRouter().openapi(route, async (c) => {
  const { stream, bytes, row } = await c
    .get('services')
    .exports.download(c.get('principal'), c.req.valid('param').id);
  return c.body(Readable.toWeb(stream) as ReadableStream, 200, {
    'content-type': 'application/zip',
    'content-length': String(bytes),
    'content-disposition': `attachment; filename="quittance-${row.merchantId}-${row.jurisdiction}-${row.id}.zip"`,
    ...(row.sha256 ? { 'x-content-sha256': row.sha256 } : {}),
  }) as never;
});

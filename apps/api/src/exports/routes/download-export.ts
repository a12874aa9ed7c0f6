import { Readable } from 'node:stream';
import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../http/router';
import { ExportIdParam, problems, zipContent } from '../../http/schemas';
import { bundleFilename } from '../service';

const route = createRoute({
  method: 'get',
  path: '/exports/{id}/download',
  tags: ['exports'],
  summary: 'Download the bundle (zip, SPEC §9)',
  description:
    'Streams the bundle from the bundle store, whichever API process answers. When the store ' +
    'is S3 with `QUITTANCE_BUNDLE_URL_TTL_S` set, answers 302 to a short-lived presigned URL ' +
    'instead (fetch it without the Authorization header). 503 with `Retry-After` while the ' +
    'bundle store cannot be reached.',
  security: [{ apiKey: [] }],
  request: { params: ExportIdParam },
  responses: {
    200: zipContent('The bundle'),
    302: { description: 'The bundle, at a short-lived URL of the bundle store (`Location`)' },
    ...problems(401, 404, 409, 503),
  },
});

export const downloadExport = createRouter().openapi(route, async (c) => {
  const bundle = await c
    .get('services')
    .exports.download(c.get('principal'), c.req.valid('param').id);
  // Private to the key that asked, and a presigned URL must not outlive its signature.
  c.header('cache-control', 'no-store');
  if (bundle.url !== undefined) return c.redirect(bundle.url, 302) as never;
  const { stream, bytes, row } = bundle;
  return c.body(Readable.toWeb(stream) as ReadableStream, 200, {
    'content-type': 'application/zip',
    'content-length': String(bytes),
    'content-disposition': `attachment; filename="${bundleFilename(row)}"`,
    ...(row.sha256 ? { 'x-content-sha256': row.sha256 } : {}),
  }) as never;
});

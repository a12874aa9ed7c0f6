import { createRoute } from '@hono/zod-openapi';
import { periodOfSnapshotFile } from '@quittance/format';
import { ApiError } from '../../http/problem';
import { createRouter } from '../../http/router';
import {
  problems,
  SnapshotDocumentSchema,
  SnapshotFileParam,
  SnapshotVersionQuery,
} from '../../http/schemas';

const route = createRoute({
  method: 'get',
  path: '/.well-known/jwks/snapshot/{file}',
  tags: ['keys'],
  summary: 'Signed key snapshot of a month (SPEC §5)',
  description:
    '`{file}` is `YYYY-MM.json`. The latest version of the month, or `?version=N`. A JWKS with ' +
    'key history, revocations and a detached JWS by the publisher key.',
  request: { params: SnapshotFileParam, query: SnapshotVersionQuery },
  responses: {
    200: {
      description: 'The snapshot document, byte for byte as published',
      content: { 'application/json': { schema: SnapshotDocumentSchema } },
    },
    ...problems(400, 404),
  },
});

export const jwksSnapshot = createRouter().openapi(route, async (c) => {
  const period = periodOfSnapshotFile(c.req.valid('param').file);
  if (!period) throw new ApiError('not_found', 'snapshots are named YYYY-MM.json');
  const { version } = c.req.valid('query');
  const services = c.get('services');
  const document = await services.snapshots.document(services.db, period, version);
  if (!document)
    throw new ApiError(
      'not_found',
      `no snapshot for ${period}${version ? ` version ${version}` : ''}`,
    );
  c.header('cache-control', version ? 'public, max-age=31536000, immutable' : 'public, max-age=60');
  // Served byte for byte as signed and hashed, so prevSnapshotHash recomputes from it.
  return c.body(document, 200, { 'content-type': 'application/json' }) as never;
});

import { createRoute, z } from '@hono/zod-openapi';
import { ApiError } from '../http/problem';
import { createRouter } from '../http/router';
import { problems } from '../http/schemas';

const FILE = /^(\d{4}-(?:0[1-9]|1[0-2]))\.json$/;

const route = createRoute({
  method: 'get',
  path: '/.well-known/jwks/snapshot/{file}',
  tags: ['keys'],
  summary: 'Signed key snapshot of a month (SPEC §5)',
  description:
    '`{file}` is `YYYY-MM.json`. The latest version of the month, or `?version=N`. A JWKS with ' +
    'key history, revocations and a detached JWS by the publisher key.',
  request: {
    params: z.strictObject({
      file: z.string().openapi({ param: { name: 'file', in: 'path' }, example: '2026-11.json' }),
    }),
    query: z.strictObject({ version: z.coerce.number().int().min(1).optional() }),
  },
  responses: {
    200: {
      description: 'The snapshot document, byte for byte as published',
      content: { 'application/json': { schema: z.unknown() } },
    },
    ...problems(400, 404),
  },
});

export const jwksSnapshot = createRouter().openapi(route, async (c) => {
  const match = FILE.exec(c.req.valid('param').file);
  if (!match) throw new ApiError('not_found', 'snapshots are named YYYY-MM.json');
  const { version } = c.req.valid('query');
  const services = c.get('services');
  const document = await services.snapshots.document(services.db, match[1] as string, version);
  if (!document)
    throw new ApiError(
      'not_found',
      `no snapshot for ${match[1]}${version ? ` version ${version}` : ''}`,
    );
  c.header('cache-control', version ? 'public, max-age=31536000, immutable' : 'public, max-age=60');
  // Served byte for byte as signed and hashed, so prevSnapshotHash recomputes from it.
  return c.body(document, 200, { 'content-type': 'application/json' }) as never;
});

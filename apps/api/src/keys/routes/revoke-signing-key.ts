import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../http/router';
import {
  jsonBody,
  jsonContent,
  KidParam,
  problems,
  RevokedKeySchema,
  RevokeSigningKeyRequest,
} from '../../http/schemas';

const route = createRoute({
  method: 'post',
  path: '/signing-keys/{kid}/revoke',
  tags: ['admin'],
  summary: 'Revoke a signing key; re-issues the current snapshot',
  description:
    'Receipts the key signed at or after `revokedAt` verify as refuted. Revoking the active key ' +
    'also activates a replacement so that the merchant can keep issuing.',
  security: [{ adminToken: [] }],
  request: {
    params: KidParam,
    body: jsonBody(RevokeSigningKeyRequest),
  },
  responses: {
    200: jsonContent(RevokedKeySchema, 'Revoked'),
    ...problems(400, 401, 404, 409, 413, 415),
  },
});

export const revokeSigningKey = createRouter().openapi(route, async (c) => {
  const { reason, revokedAt } = c.req.valid('json');
  const result = await c
    .get('services')
    .keyRing.revoke(c.req.valid('param').kid, reason, revokedAt ? new Date(revokedAt) : undefined);
  return c.json(result, 200);
});

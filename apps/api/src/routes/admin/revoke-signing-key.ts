import { createRoute, z } from '@hono/zod-openapi';
import { isTimestampMs } from '@quittance/format';
import { createRouter } from '../../http/router';
import { jsonContent, KidParam, problems } from '../../http/schemas';

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
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z.strictObject({
            reason: z.string().min(1).max(200).openapi({ example: 'key_compromise' }),
            revokedAt: z
              .string()
              .refine(isTimestampMs, { message: 'must be RFC 3339 UTC with milliseconds and Z' })
              .optional(),
          }),
        },
      },
    },
  },
  responses: {
    200: jsonContent(
      z.object({
        kid: z.string(),
        revokedAt: z.string(),
        reason: z.string(),
        replacementKid: z.string().nullable(),
      }),
      'Revoked',
    ),
    ...problems(400, 401, 404, 409),
  },
});

export const revokeSigningKey = createRouter().openapi(route, async (c) => {
  const { reason, revokedAt } = c.req.valid('json');
  const result = await c
    .get('services')
    .keyRing.revoke(c.req.valid('param').kid, reason, revokedAt ? new Date(revokedAt) : undefined);
  return c.json(result, 200);
});

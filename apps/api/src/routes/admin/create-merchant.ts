import { createRoute, z } from '@hono/zod-openapi';
import { JURISDICTIONS } from '@quittance/bundle';
import { createRouter } from '../../http/router';
import { Identifier, jsonContent, problems } from '../../http/schemas';

const route = createRoute({
  method: 'post',
  path: '/merchants',
  tags: ['admin'],
  summary: 'Create a merchant and its first signing key',
  security: [{ adminToken: [] }],
  request: {
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z.strictObject({
            merchantId: Identifier.openapi({ example: 'acme' }),
            jurisdiction: z.enum(JURISDICTIONS),
            name: z.string().min(1).max(200).optional(),
          }),
        },
      },
    },
  },
  responses: {
    201: jsonContent(
      z.object({
        merchantId: z.string(),
        jurisdiction: z.enum(JURISDICTIONS),
        signingKeyKid: z.string(),
      }),
      'Created',
    ),
    ...problems(400, 401, 409),
  },
});

export const createMerchant = createRouter().openapi(route, async (c) => {
  const created = await c.get('services').keyRing.createMerchant(c.req.valid('json'));
  return c.json(created as typeof created & { jurisdiction: (typeof JURISDICTIONS)[number] }, 201);
});

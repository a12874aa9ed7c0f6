import { createRoute, z } from '@hono/zod-openapi';
import { ROLES } from '../../auth/api-keys';
import { createRouter } from '../../http/router';
import { Identifier, jsonContent, MerchantIdParam, problems } from '../../http/schemas';

const route = createRoute({
  method: 'post',
  path: '/merchants/{merchantId}/api-keys',
  tags: ['admin'],
  summary: 'Create an API key (shown once, stored as a hash)',
  security: [{ adminToken: [] }],
  request: {
    params: MerchantIdParam,
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z
            .strictObject({ role: z.enum(ROLES), agentId: Identifier.optional() })
            .refine((b) => (b.role === 'agent') === (b.agentId !== undefined), {
              message: 'agentId is required for agent keys and only for them',
              path: ['agentId'],
            }),
        },
      },
    },
  },
  responses: {
    201: jsonContent(
      z.object({
        apiKey: z.string(),
        prefix: z.string(),
        role: z.enum(ROLES),
        agentId: z.string().optional(),
      }),
      'Created; the key is not retrievable later',
    ),
    ...problems(400, 401, 404),
  },
});

export const createApiKey = createRouter().openapi(route, async (c) => {
  const { role, agentId } = c.req.valid('json');
  const created = await c
    .get('services')
    .apiKeys.create(c.req.valid('param').merchantId, role, agentId);
  return c.json(created, 201);
});

import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../http/router';
import {
  ConsistencyProofSchema,
  ConsistencyQuery,
  jsonContent,
  problems,
} from '../../http/schemas';

const route = createRoute({
  method: 'get',
  path: '/checkpoints/consistency',
  tags: ['transparency'],
  summary: 'Consistency proof (SPEC §6.1) between two checkpoints of the merchant',
  security: [{ apiKey: [] }],
  request: { query: ConsistencyQuery },
  responses: {
    200: jsonContent(ConsistencyProofSchema, 'Both checkpoints and the proof'),
    ...problems(400, 401, 404),
  },
});

export const checkpointConsistency = createRouter().openapi(route, async (c) => {
  const { from, to } = c.req.valid('query');
  return c.json(await c.get('services').proofs.consistency(c.get('principal'), from, to), 200);
});

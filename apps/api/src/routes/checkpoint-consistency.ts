import { createRoute, z } from '@hono/zod-openapi';
import { assertRole } from '../http/middleware';
import { createRouter } from '../http/router';
import { CheckpointSeq, ConsistencyProofSchema, jsonContent, problems } from '../http/schemas';
import { proofsOf } from '../transparency/service';

const route = createRoute({
  method: 'get',
  path: '/checkpoints/consistency',
  tags: ['transparency'],
  summary:
    'Consistency proof (SPEC §6.1) between two checkpoints of the merchant (merchant and auditor keys)',
  security: [{ apiKey: [] }],
  request: { query: z.strictObject({ from: CheckpointSeq, to: CheckpointSeq }) },
  responses: {
    200: jsonContent(ConsistencyProofSchema, 'Both checkpoints and the proof'),
    ...problems(400, 401, 403, 404),
  },
});

export const checkpointConsistency = createRouter().openapi(route, async (c) => {
  // As the checkpoint list: it reveals the merchant's volume.
  assertRole(c.get('principal'), 'merchant', 'auditor');
  const { from, to } = c.req.valid('query');
  return c.json(await proofsOf(c.get('services')).consistency(c.get('principal'), from, to), 200);
});

import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../http/router';
import {
  InclusionProofSchema,
  jsonContent,
  ProofQuery,
  problems,
  ReceiptIdParam,
} from '../../http/schemas';

const route = createRoute({
  method: 'get',
  path: '/receipts/{id}/proof',
  tags: ['transparency'],
  summary:
    'Inclusion proof (SPEC §6.1) against the latest checkpoint covering the receipt, or ?checkpoint=<seq>; 404 not_checkpointed with Retry-After before one exists',
  security: [{ apiKey: [] }],
  request: {
    params: ReceiptIdParam,
    query: ProofQuery,
  },
  responses: {
    200: jsonContent(InclusionProofSchema, 'The proof, with its signed checkpoint'),
    ...problems(400, 401, 404),
  },
});

export const receiptProof = createRouter().openapi(route, async (c) => {
  const proof = await c
    .get('services')
    .proofs.inclusion(c.get('principal'), c.req.valid('param').id, c.req.valid('query').checkpoint);
  return c.json(proof, 200);
});

import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../http/router';
import { EvidenceQuery, OrderIdParam, problems, zipContent } from '../../http/schemas';

const route = createRoute({
  method: 'get',
  path: '/receipts/by-order/{orderId}/evidence',
  tags: ['transparency'],
  summary:
    "The order's evidence bundle (zip, SPEC §9.1): its receipts the key may see, each with an inclusion proof against one checkpoint; ?includeBodies=true for merchant and auditor keys",
  security: [{ apiKey: [] }],
  request: {
    params: OrderIdParam,
    query: EvidenceQuery,
  },
  responses: {
    200: zipContent('The evidence bundle'),
    ...problems(400, 401, 403, 404, 422),
  },
});

export const receiptEvidence = createRouter().openapi(route, async (c) => {
  const { orderId } = c.req.valid('param');
  const { zip, sha256 } = await c
    .get('services')
    .evidence.order(
      c.get('principal'),
      orderId,
      c.req.valid('query').includeBodies === 'true',
      c.get('deadline')(),
    );
  return c.body(new Uint8Array(zip), 200, {
    'content-type': 'application/zip',
    'content-length': String(zip.length),
    'content-disposition': `attachment; filename="quittance-evidence-${orderId}.zip"`,
    'x-content-sha256': sha256,
  }) as never;
});

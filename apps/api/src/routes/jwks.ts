import { createRoute, z } from '@hono/zod-openapi';
import { signingKeys } from '@quittance/db';
import { ne } from 'drizzle-orm';
import { createRouter } from '../http/router';
import { jsonContent } from '../http/schemas';

const Jwk = z.object({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string(),
  kid: z.string(),
  alg: z.literal('EdDSA'),
  use: z.literal('sig'),
});

const route = createRoute({
  method: 'get',
  path: '/.well-known/jwks.json',
  tags: ['keys'],
  summary: 'Public keys that verify receipts now (active and retired, not revoked)',
  responses: {
    200: jsonContent(z.object({ keys: z.array(Jwk) }).openapi('Jwks'), 'RFC 7517 JWKS'),
  },
});

export const jwks = createRouter().openapi(route, async (c) => {
  const rows = await c
    .get('services')
    .db.select()
    .from(signingKeys)
    .where(ne(signingKeys.status, 'revoked'))
    .orderBy(signingKeys.merchantId, signingKeys.nbf);
  const keys = rows.map((r) => ({
    kty: 'OKP' as const,
    crv: 'Ed25519' as const,
    x: r.x,
    kid: r.kid,
    alg: 'EdDSA' as const,
    use: 'sig' as const,
  }));
  c.header('cache-control', 'public, max-age=60');
  return c.json({ keys }, 200);
});

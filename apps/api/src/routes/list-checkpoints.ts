import { createRoute, z } from '@hono/zod-openapi';
import { checkpoints } from '@quittance/db';
import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import { createRouter } from '../http/router';
import { CheckpointSchema, jsonContent, problems } from '../http/schemas';
import { decodeCursor, encodeCursor } from '../receipts/queries';
import { checkpointView } from '../transparency/proofs';

const route = createRoute({
  method: 'get',
  path: '/checkpoints',
  tags: ['receipts'],
  summary: "The merchant's signed chain checkpoints, newest first",
  security: [{ apiKey: [] }],
  request: {
    query: z.strictObject({
      limit: z.coerce.number().int().min(1).max(500).default(100),
      cursor: z.string().max(200).optional(),
    }),
  },
  responses: {
    200: jsonContent(
      z.object({ checkpoints: z.array(CheckpointSchema), nextCursor: z.string().nullable() }),
      'A page',
    ),
    ...problems(400, 401),
  },
});

export const listCheckpoints = createRouter().openapi(route, async (c) => {
  const { limit, cursor } = c.req.valid('query');
  const conditions: SQL[] = [eq(checkpoints.merchantId, c.get('principal').merchantId)];
  if (cursor) conditions.push(lt(checkpoints.seq, decodeCursor(cursor)));
  const rows = await c
    .get('services')
    .db.select()
    .from(checkpoints)
    .where(and(...conditions))
    .orderBy(desc(checkpoints.seq))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return c.json(
    {
      checkpoints: page.map(checkpointView),
      nextCursor: rows.length > limit && last ? encodeCursor(last.seq) : null,
    },
    200,
  );
});

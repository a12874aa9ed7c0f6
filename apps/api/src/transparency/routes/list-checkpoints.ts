import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../http/router';
import {
  CheckpointListQuery,
  CheckpointPageSchema,
  jsonContent,
  problems,
} from '../../http/schemas';

const route = createRoute({
  method: 'get',
  path: '/checkpoints',
  tags: ['receipts'],
  summary: "The merchant's signed chain checkpoints, newest first",
  security: [{ apiKey: [] }],
  request: { query: CheckpointListQuery },
  responses: {
    200: jsonContent(CheckpointPageSchema, 'A page'),
    ...problems(400, 401),
  },
});

export const listCheckpoints = createRouter().openapi(route, async (c) => {
  const page = await c.get('services').checkpoints.page(c.get('principal'), c.req.valid('query'));
  return c.json(page, 200);
});

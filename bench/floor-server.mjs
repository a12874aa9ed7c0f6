// The HTTP floor for `npm run bench:issue`: a bare hono handler on the same node adapter that
// parses the issue request, hashes it and answers a receipt-sized JSON. No database, no
// signature, no validation: what an issue costs above this is Quittance's own work.
//   node bench/floor-server.mjs PORT
import { createHash, randomUUID } from 'node:crypto';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono();
app.post('/api/v1/trust/receipts', async (c) => {
  const text = await c.req.text();
  const request = JSON.parse(text);
  const hash = createHash('sha256').update(text).digest('hex');
  return c.json(
    {
      receipt: {
        id: `trcpt_${randomUUID()}`,
        merchantId: 'floor',
        callId: request.callId,
        agentId: request.agentId,
        bucket: request.bucket,
        tool: request.tool,
        orderId: request.orderId ?? null,
        inputHash: hash,
        outputHash: hash,
        createdAt: new Date().toISOString(),
        signingKeyKid: 'x'.repeat(43),
        jwksSnapshotUrl: 'http://127.0.0.1/.well-known/jwks/2026-11.json',
        seq: 1,
        prevHash: hash,
        entryHash: hash,
        receiptHash: hash,
        legalPosture: 'signed',
        timestamp: null,
      },
      jws: `eyJhbGciOiJFZERTQSJ9..${'A'.repeat(86)}`,
    },
    201,
  );
});
serve({ fetch: app.fetch, port: Number(process.argv[2]), hostname: '127.0.0.1' }, () =>
  process.stdout.write('floor serving\n'),
);

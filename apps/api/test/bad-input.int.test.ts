import { rowsOf } from '@quittance/db';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, issueBody } from './harness';

let h: Harness;
let m: Awaited<ReturnType<Harness['merchant']>>;
beforeAll(async () => {
  h = await createHarness({ env: { QUITTANCE_MAX_BODY_BYTES: '16384' } });
  m = await h.merchant();
  await h.call('POST', '/api/v1/trust/receipts', { key: m.merchantKey, body: issueBody() });
});
afterAll(async () => {
  await h.close();
});

async function counts() {
  const result = await h.services.db.execute(sql`select
    (select count(*) from receipts)::int as receipts,
    (select count(*) from receipt_bodies)::int as bodies,
    (select count(*) from pending_timestamps)::int as pending,
    (select count(*) from vault_keys)::int as vault_keys,
    (select coalesce(sum(seq), 0) from chain_heads)::int as heads`);
  return rowsOf(result)[0];
}

const post = (body: unknown, extra: { raw?: string; headers?: Record<string, string> } = {}) =>
  h.call('POST', '/api/v1/trust/receipts', {
    key: m.merchantKey,
    ...(extra.raw === undefined
      ? { body }
      : { raw: extra.raw, headers: { 'content-type': 'application/json', ...extra.headers } }),
    ...(extra.headers && extra.raw === undefined ? { headers: extra.headers } : {}),
  });

describe('bad input: a clear problem, nothing stored', () => {
  const cases: [string, () => ReturnType<typeof post>, number, string, string[]?][] = [
    [
      'wrong types',
      () => post(issueBody({ callId: 7, bucket: ['x'], tool: null })),
      400,
      'invalid_request',
      ['/callId', '/bucket', '/tool'],
    ],
    [
      'unknown members',
      () => post(issueBody({ merchantId: 'evil', extra: 1 })),
      400,
      'invalid_request',
      ['/merchantId', '/extra'],
    ],
    [
      'over-long ids',
      () => post(issueBody({ agentId: 'a'.repeat(129), orderId: 'o'.repeat(200) })),
      400,
      'invalid_request',
      ['/agentId', '/orderId'],
    ],
    [
      'bad identifier characters',
      () => post(issueBody({ callId: 'call 1/x' })),
      400,
      'invalid_request',
      ['/callId'],
    ],
    [
      'missing members',
      () => post({ input: 1, output: 2 }),
      400,
      'invalid_request',
      ['/callId', '/agentId', '/bucket', '/tool'],
    ],
    [
      'bodies and hashes together',
      () => post(issueBody({ inputHash: 'a'.repeat(64), outputHash: 'b'.repeat(64) })),
      400,
      'invalid_request',
    ],
    [
      'only input',
      () => post({ ...issueBody(), output: undefined }),
      400,
      'invalid_request',
      ['/output'],
    ],
    [
      'bad hash',
      () =>
        post({
          callId: 'c',
          agentId: 'a',
          bucket: 'checkout',
          tool: 't',
          inputHash: 'A'.repeat(64),
          outputHash: 'b'.repeat(64),
        }),
      400,
      'invalid_request',
      ['/inputHash'],
    ],
    [
      'lone surrogate in a body',
      () =>
        post(undefined, {
          raw: JSON.stringify(issueBody()).replace('"cart":"c-1"', '"cart":"c-\\ud800"'),
        }),
      400,
      'invalid_request',
      ['/input/cart'],
    ],
    [
      'lone surrogate in a member name',
      () => post(undefined, { raw: JSON.stringify(issueBody()).replace('"cart":', '"\\udc00":') }),
      400,
      'invalid_request',
    ],
    ['non-JSON', () => post(undefined, { raw: '{"callId": "x",' }), 400, 'invalid_json'],
    ['JSON that is not an object', () => post(undefined, { raw: '[1,2]' }), 400, 'invalid_request'],
    [
      'wrong content type',
      () =>
        post(undefined, {
          raw: JSON.stringify(issueBody()),
          headers: { 'content-type': 'text/plain' },
        }),
      415,
      'unsupported_media_type',
    ],
    [
      'body over the limit',
      () => post(issueBody({ input: { blob: 'x'.repeat(20_000) } })),
      413,
      'body_too_large',
    ],
    [
      'signing input over 4096 bytes',
      () => post(issueBody({ trust_provider_assertions: [{ sig: 'x'.repeat(3500) }] })),
      422,
      'signing_input_too_large',
    ],
  ];

  it.each(cases)('%s → %i %s', async (_name, send, status, code, paths) => {
    const before = await counts();
    const r = await send();
    expect(r.status).toBe(status);
    expect(r.headers.get('content-type')).toBe('application/problem+json');
    expect(r.body).toMatchObject({
      status,
      code,
      title: expect.any(String),
      requestId: expect.any(String),
    });
    if (paths)
      expect(r.body.errors.map((e: { path: string }) => e.path)).toEqual(
        expect.arrayContaining(paths),
      );
    expect(await counts()).toEqual(before);
  });

  it.each([
    ['limit over 500', '?limit=501'],
    ...['0x10', '1e1', '%2016', '', '+5'].map((limit) => [`limit=${limit}`, `?limit=${limit}`]),
    ['unknown query parameter', '?color=red'],
    ['bad time', '?from=yesterday'],
    ['bad cursor', '?cursor=garbage'],
    ['bad bucket', '?bucket=refund'],
  ])('list with %s → 400 invalid_request', async (_name, query) => {
    const r = await h.call('GET', `/api/v1/trust/receipts${query}`, { key: m.merchantKey });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('invalid_request');
  });

  it('says which rule a query number broke: its range, or that it is not decimal digits', async () => {
    const messages = async (query: string) =>
      (
        await h.call('GET', `/api/v1/trust/receipts${query}`, { key: m.merchantKey })
      ).body.errors.map((e: { message: string }) => e.message);
    expect(await messages('?limit=501')).toEqual([expect.stringContaining('<=500')]);
    expect(await messages('?limit=0x10')).toEqual([
      'limit: expected a whole number in decimal digits',
    ]);
  });

  it('unknown routes and receipts are 404 problems', async () => {
    expect((await h.call('GET', '/api/v1/trust/nope', { key: m.merchantKey })).body.code).toBe(
      'not_found',
    );
    expect(
      (await h.call('GET', '/api/v1/trust/receipts/trcpt_nope', { key: m.merchantKey })).status,
    ).toBe(404);
    expect((await h.call('GET', '/.well-known/jwks/snapshot/1999-01.json')).status).toBe(404);
    expect((await h.call('GET', '/.well-known/jwks/snapshot/latest.json')).status).toBe(404);
  });

  it('keeps the request id the caller sent', async () => {
    const r = await h.call('GET', '/api/v1/trust/receipts', {
      key: m.merchantKey,
      headers: { 'x-request-id': 'req-12345678' },
    });
    expect(r.headers.get('x-request-id')).toBe('req-12345678');
  });
});

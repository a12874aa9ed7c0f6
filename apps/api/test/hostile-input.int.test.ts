import { Writable } from 'node:stream';
import { rowsOf } from '@quittance/db';
import { canonicalJson, signedPart } from '@quittance/format';
import { verifyReceipt } from '@quittance/verifier';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkJsonText, MAX_REQUEST_DEPTH } from '../src/http/json-body';
import { ApiError } from '../src/http/problem';
import { ADMIN_TOKEN, createHarness, expectProblem, type Harness, issueBody } from './harness';

/**
 * Hostile requests from an outside review: each must be a 4xx problem+json with a stable
 * code (never a 500, never a receipt over content the caller did not send), on both drivers.
 */
const DRIVERS = [
  ['postgres', {}],
  ['pglite', { embedded: true }],
] as const;

const ISSUE = '/api/v1/trust/receipts';

describe('the request body scanner (no database)', () => {
  const codeOf = (text: string) => {
    JSON.parse(text); // the scanner only ever sees text JSON.parse accepted
    try {
      checkJsonText(text);
      return null;
    } catch (error) {
      expect(error).toBeInstanceOf(ApiError);
      return `${(error as ApiError).code} ${(error as ApiError).errors?.[0]?.path ?? ''}`.trim();
    }
  };
  it.each([
    ['{"a":1,"b":2}', null],
    ['{"a":"}{\\"a\\":","b":"\\\\","c":"\\\\\\""}', null],
    ['{"a":1,"a":2}', 'duplicate_member /a'],
    ['{"a\\"b":1,"a\\u0022b":2}', 'duplicate_member /a"b'],
    ['{"x/y~z":{"k":[1,{"q":1,"q":2}]}}', 'duplicate_member /x~1y~0z/k/1/q'],
    ['[[],[{"a":1}],{"a":1},{"a":{"a":{}}}]', null],
    ['{"":1,"":2}', 'duplicate_member /'],
    [
      JSON.stringify(
        Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, { k0: i }])),
      ),
      null,
    ],
    [
      `{${Array.from({ length: 50 }, (_, i) => `"k${i}":1`).join(',')},"k7":2}`,
      'duplicate_member /k7',
    ],
    [
      `{${Array.from({ length: 50 }, (_, i) => `"k${i}":1`).join(',')},"k49":2}`,
      'duplicate_member /k49',
    ],
    [`${'['.repeat(MAX_REQUEST_DEPTH)}${']'.repeat(MAX_REQUEST_DEPTH)}`, null],
    [`${'['.repeat(MAX_REQUEST_DEPTH + 1)}${']'.repeat(MAX_REQUEST_DEPTH + 1)}`, 'json_too_deep'],
    [`${'{"a":'.repeat(200_000)}1${'}'.repeat(200_000)}`, 'json_too_deep'],
    // Numbers: every digit written must survive the double (RFC 7493 §2.2).
    ['{"n":9007199254740993}', 'invalid_request /n'],
    ['{"n":-9007199254740993}', 'invalid_request /n'],
    ['[1,[2,123456789012345678901234567890]]', 'invalid_request /1/1'],
    ['{"n":1e-400}', 'invalid_request /n'],
    ['{"n":5e-325}', 'invalid_request /n'],
    ['{"n":1e400}', 'invalid_request /n'],
    ['{"n":"9007199254740993"}', null],
    ['{"n":9007199254740992}', null],
    ['{"n":1.10,"m":0.10000000000000001,"k":5e-324,"j":-0,"i":1E2,"h":0.0e10}', null],
    ['{"n":0.30000000000000004,"m":1.7976931348623157e308,"k":100000000000000000000}', null],
    // Past toPrecision's 100 digits, held to the double's exact value.
    [`{"n":${(2n ** 340n).toString()}}`, null],
    [`{"n":${(2n ** 340n + 1n).toString()}}`, 'invalid_request /n'],
  ])('%s → %s', (text, expected) => {
    expect(codeOf(text)).toBe(expected);
  });
});

describe.each(DRIVERS)('hostile input on %s', (_driver, options) => {
  let h: Harness;
  let m: Awaited<ReturnType<Harness['merchant']>>;
  beforeAll(async () => {
    h = await createHarness(options);
    m = await h.merchant();
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  async function receiptCount(): Promise<number> {
    const result = await h.services.db.execute(sql`select count(*)::int as n from receipts`);
    return (rowsOf<{ n: number }>(result)[0] as { n: number }).n;
  }

  /** POSTs raw bytes (or text) as application/json, the way a hostile client would. */
  async function postRaw(body: string | Uint8Array, path = ISSUE) {
    const res = await h.app.request(path, {
      method: 'POST',
      headers: { authorization: `Bearer ${m.merchantKey}`, 'content-type': 'application/json' },
      body: body as BodyInit,
    });
    const text = await res.text();
    let parsed: any = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, body: parsed, headers: res.headers };
  }

  /** The JSON text of a valid issue request whose `input` is replaced by `inputJson`. */
  function withInput(inputJson: string, overrides: Record<string, unknown> = {}): string {
    return JSON.stringify(issueBody({ input: '@@INPUT@@', ...overrides })).replace(
      '"@@INPUT@@"',
      inputJson,
    );
  }

  describe('a. nesting depth', () => {
    const arrays = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    const objects = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;

    it.each([
      ['input: 3,000 nested arrays', () => withInput(arrays(3000))],
      ['input: 4,000 nested objects (~20 KB)', () => withInput(objects(4000))],
      [
        'output: 3,000 nested objects',
        () => JSON.stringify(issueBody({ output: '@@O@@' })).replace('"@@O@@"', objects(3000)),
      ],
      [
        'an assertion nested 3,000 deep',
        () =>
          JSON.stringify(issueBody({ trust_provider_assertions: ['@@A@@'] })).replace(
            '"@@A@@"',
            `{"x":${arrays(3000)}}`,
          ),
      ],
      ['input one level over the limit (129 with the request)', () => withInput(arrays(128))],
    ])('%s → 400 json_too_deep, nothing stored', async (_name, make) => {
      const text = make();
      expect(text.length).toBeLessThan(64 * 1024);
      const before = await receiptCount();
      const r = await postRaw(text);
      expectProblem(r, 400, 'json_too_deep');
      expect(r.body.detail).toMatch(/128/);
      expect(await receiptCount()).toBe(before);
    });

    it('accepts a request nested exactly at the limit (input 127 deep)', async () => {
      const r = await postRaw(withInput(arrays(127)));
      expect(r.status).toBe(201);
      const bodies = await h.call('GET', `${ISSUE}/${r.body.id}/bodies`, { key: m.merchantKey });
      expect(JSON.stringify(bodies.body.input)).toBe(arrays(127));
    });
  });

  describe('b. invalid UTF-8', () => {
    /** A valid issue request's bytes with `bad` spliced in where `@@BAD@@` is in `input`. */
    const bytesWith = (bad: number[], inputJson = '"@@BAD@@"') => {
      const [head, tail] = withInput(inputJson).split('@@BAD@@') as [string, string];
      const enc = new TextEncoder();
      return new Uint8Array([...enc.encode(head), ...bad, ...enc.encode(tail)]);
    };
    it.each([
      ['\\xff\\xfe', [0xff, 0xfe]],
      ['overlong \\xc0\\xaf', [0xc0, 0xaf]],
      ['encoded surrogate \\xed\\xa0\\x80', [0xed, 0xa0, 0x80]],
      ['truncated sequence \\xe2\\x82', [0xe2, 0x82]],
    ])('%s in a body → 400 invalid_utf8, nothing stored', async (_name, bad) => {
      const before = await receiptCount();
      const r = await postRaw(bytesWith(bad));
      expectProblem(r, 400, 'invalid_utf8');
      expect(await receiptCount()).toBe(before);
    });

    it('invalid UTF-8 in a member name or an export request is refused too', async () => {
      const enc = new TextEncoder();
      const name = bytesWith([0xc0, 0x80], '{"k@@BAD@@":1}');
      // Valid JSON but for those two bytes: the same text with a valid character is 201.
      expect((await postRaw(bytesWith([0x41], '{"k@@BAD@@":1}'))).status).toBe(201);
      expectProblem(await postRaw(name), 400, 'invalid_utf8');
      const exp = new Uint8Array([
        ...enc.encode('{"jurisdiction":"EU","orderId":"'),
        0xff,
        ...enc.encode('"}'),
      ]);
      expectProblem(await postRaw(exp, '/api/v1/trust/exports'), 400, 'invalid_utf8');
    });

    it('well-formed multi-byte UTF-8 is signed as sent', async () => {
      const input = { text: 'é ü 日本 🧾', ключ: 'значение' };
      const r = await postRaw(new TextEncoder().encode(JSON.stringify(issueBody({ input }))));
      expect(r.status).toBe(201);
      const bodies = await h.call('GET', `${ISSUE}/${r.body.id}/bodies`, { key: m.merchantKey });
      expect(bodies.body.input).toEqual(input);
    });
  });

  describe('c. duplicate member names', () => {
    it.each([
      [
        'two callIds at the top level',
        () => JSON.stringify(issueBody()).replace('{', '{"callId":"dup-first",'),
        '/callId',
      ],
      ['inside input', () => withInput('{"a":1,"b":{"c":2},"a":2}'), '/input/a'],
      [
        'deep inside output',
        () =>
          JSON.stringify(issueBody({ output: '@@O@@' })).replace(
            '"@@O@@"',
            '{"list":[{"x":1},{"y":{"k":1,"k":1}}]}',
          ),
        '/output/list/1/y/k',
      ],
      ['spelt differently with escapes', () => withInput('{"a":1,"\\u0061":2}'), '/input/a'],
      [
        'inside an assertion',
        () =>
          JSON.stringify(issueBody({ trust_provider_assertions: ['@@A@@'] })).replace(
            '"@@A@@"',
            '{"sig":"s1","sig":"s2"}',
          ),
        '/trust_provider_assertions/0/sig',
      ],
      [
        'two __proto__ members',
        () => withInput('{"__proto__":1,"__proto__":2}'),
        '/input/__proto__',
      ],
    ])('%s → 400 duplicate_member naming it, nothing stored', async (_name, make, path) => {
      const before = await receiptCount();
      const r = await postRaw(make());
      expectProblem(r, 400, 'duplicate_member');
      expect(r.body.errors).toEqual([expect.objectContaining({ path, code: 'not_i_json' })]);
      expect(await receiptCount()).toBe(before);
    });

    it('the same name in different objects is fine', async () => {
      const r = await postRaw(withInput('{"a":{"a":1},"b":[{"a":1},{"a":2}],"c":"\\"a\\":"}'));
      expect(r.status).toBe(201);
    });

    it('is refused on the admin API too', async () => {
      const res = await h.app.request('/admin/v1/merchants', {
        method: 'POST',
        headers: {
          authorization: `Bearer ${ADMIN_TOKEN}`,
          'content-type': 'application/json',
        },
        body: '{"merchantId":"dup-a","merchantId":"dup-b","jurisdiction":"EU"}',
      });
      expect(res.status).toBe(400);
      expect((await res.json()).code).toBe('duplicate_member');
    });
  });

  describe('i. numbers a double cannot hold', () => {
    it.each([
      ['2^53 + 1', '9007199254740993'],
      ['a 30-digit integer', '123456789012345678901234567890'],
      ['an underflow to 0', '1e-400'],
      ['a denormal that rounds to 0', '5e-325'],
    ])(
      '%s → 400 naming it, nothing stored (it was signed as a changed value)',
      async (_what, n) => {
        const before = await receiptCount();
        const r = await postRaw(withInput(`{"amount":{"minor":${n}}}`));
        expectProblem(r, 400, 'invalid_request');
        expect(r.body.errors).toEqual([
          expect.objectContaining({ path: '/input/amount/minor', code: 'not_i_json' }),
        ]);
        expect(await receiptCount()).toBe(before);
      },
    );

    it('numbers whose every digit a double keeps are signed as the same value', async () => {
      const r = await postRaw(withInput('{"a":1.10,"b":0.10000000000000001,"c":9007199254740992}'));
      expect(r.status).toBe(201);
      const bodies = await h.call('GET', `${ISSUE}/${r.body.id}/bodies`, { key: m.merchantKey });
      expect(bodies.body.input).toEqual({ a: 1.1, b: 0.1, c: 9007199254740992 });
    });
  });

  describe('d. __proto__ member names', () => {
    it('are kept in assertions and input as sent, signed and verifiable', async () => {
      const text = JSON.stringify(
        issueBody({ trust_provider_assertions: ['@@A@@', '@@B@@'], input: '@@I@@' }),
      )
        .replace('"@@A@@"', '{"__proto__":{"polluted":true},"sig":"s1"}')
        .replace('"@@B@@"', '{"__proto__":"v"}')
        .replace('"@@I@@"', '{"__proto__":{"x":1}}');
      const r = await postRaw(text);
      expect(r.status).toBe(201);
      const receipt = r.body;
      const assertions = receipt.trust_provider_assertions;
      expect(Object.hasOwn(assertions[0], '__proto__')).toBe(true);
      expect(Object.getOwnPropertyDescriptor(assertions[0], '__proto__')?.value).toEqual({
        polluted: true,
      });
      expect(Object.hasOwn(assertions[1], '__proto__')).toBe(true);
      expect(({} as any).polluted).toBeUndefined();

      const canonical = canonicalJson(signedPart(receipt));
      expect(canonical).toContain(
        '"trust_provider_assertions":[{"__proto__":{"polluted":true},"sig":"s1"},{"__proto__":"v"}]',
      );
      const jwks = await h.call('GET', '/.well-known/jwks.json');
      const report = await verifyReceipt(receipt, jwks.body);
      expect(report.claims.signature_valid.status).toBe('asserted');

      const stored = await h.call('GET', `${ISSUE}/${receipt.id}`, { key: m.merchantKey });
      expect(canonicalJson(signedPart(stored.body))).toBe(canonical);
      const bodies = await h.call('GET', `${ISSUE}/${receipt.id}/bodies`, { key: m.merchantKey });
      expect(Object.hasOwn(bodies.body.input, '__proto__')).toBe(true);
    });

    it('a __proto__ member at the top level is an unknown member', async () => {
      const r = await postRaw(JSON.stringify(issueBody()).replace('{', '{"__proto__":{},'));
      expectProblem(r, 400, 'invalid_request');
    });
  });

  describe('e. path parameters', () => {
    const api = (method: string, path: string, body?: unknown) =>
      h.call(method, path, { key: m.merchantKey, ...(body === undefined ? {} : { body }) });
    const admin = (method: string, path: string, body?: unknown) =>
      h.call(method, `/admin/v1${path}`, {
        key: ADMIN_TOKEN,
        ...(body === undefined ? {} : { body }),
      });

    it.each([
      ['GET', '/api/v1/trust/receipts/trcpt_%00'],
      ['GET', '/api/v1/trust/receipts/%00'],
      ['GET', '/api/v1/trust/receipts/trcpt_%00/bodies'],
      ['GET', '/api/v1/trust/receipts/by-order/%00'],
      ['GET', '/api/v1/trust/receipts/by-order/order%00'],
      ['GET', '/api/v1/trust/exports/x%00'],
      ['GET', '/api/v1/trust/exports/exp_%00'],
      ['GET', '/api/v1/trust/exports/x%00/download'],
      ['GET', '/api/v1/trust/receipts/trcpt_01JD5Z7Q8M3V9K2X4N6P8R0T2%FF'],
      ['GET', '/api/v1/trust/receipts/trcpt_01jd5z7q8m3v9k2x4n6p8r0t2w'],
    ])('%s %s → 404 not_found', async (method, path) => {
      expectProblem(await api(method, path), 404, 'not_found');
    });

    it.each([
      ['GET', '/.well-known/jwks/snapshot/%00.json'],
      ['GET', '/.well-known/jwks/snapshot/2026-01%00.json'],
      ['GET', '/.well-known/jwks/snapshot/0000-01.json'],
    ])('%s %s → 404 not_found', async (method, path) => {
      expectProblem(await h.call(method, path), 404, 'not_found');
    });

    it.each<[string, string, unknown]>([
      ['DELETE', '/api-keys/%00', undefined],
      ['DELETE', '/api-keys/qtk_%00', undefined],
      ['GET', '/merchants/%00/chain-check', undefined],
      ['POST', '/merchants/%00/api-keys', { role: 'merchant' }],
      ['POST', '/merchants/%00/signing-keys/rotate', undefined],
      ['POST', '/signing-keys/%00/revoke', { reason: 'test' }],
      ['POST', '/signing-keys/acme%00-2026Q1/revoke', { reason: 'test' }],
    ])('admin %s %s → 404 not_found', async (method, path, body) => {
      expectProblem(await admin(method, `${path}`, body), 404, 'not_found');
    });

    it('well-formed ids still work, and unknown ones are still 404', async () => {
      const issued = await h.call('POST', ISSUE, { key: m.merchantKey, body: issueBody() });
      expect(issued.status).toBe(201);
      expect((await api('GET', `/api/v1/trust/receipts/${issued.body.id}`)).status).toBe(200);
      expect(
        (await api('GET', '/api/v1/trust/receipts/trcpt_01JD5Z7Q8M3V9K2X4N6P8R0T2W')).status,
      ).toBe(404);
      expect((await api('GET', '/api/v1/trust/receipts/by-order/order-1')).status).toBe(200);
      expect(
        (await api('GET', '/api/v1/trust/exports/exp_01JD5Z7Q8M3V9K2X4N6P8R0T2W')).status,
      ).toBe(404);
      expect((await admin('DELETE', '/api-keys/qtk_0123456789ABCDEF')).status).toBe(404);
      expect((await admin('GET', `/merchants/${m.merchantId}/chain-check`)).status).toBe(200);
    });
  });

  describe('f. dates', () => {
    const BAD = [
      '0000-01-01T00:00:00Z',
      '2026-02-30T00:00:00Z',
      '2025-02-29T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-01-01T24:00:00Z',
      '2026-01-01T23:60:00Z',
      '2026-01-01T23:59:60Z',
      '2026-13-01T00:00:00Z',
      '2026-00-10T00:00:00Z',
      '2026-01-00T00:00:00Z',
      '2026-01-01T00:00:00+24:00',
      '2026-01-01T00:00:00+01:60',
      '0001-01-01T00:00:00+01:00',
      '9999-12-31T23:59:59-01:00',
      '2026-01-01 00:00:00Z',
      '2026-01-01T00:00:00',
    ];
    it.each(BAD)('list from=%s → 400 invalid_request', async (date) => {
      const r = await h.call('GET', `${ISSUE}?from=${encodeURIComponent(date)}`, {
        key: m.merchantKey,
      });
      expectProblem(r, 400, 'invalid_request');
      expect(r.body.errors.map((e: { path: string }) => e.path)).toEqual(['/from']);
    });

    it.each(BAD)('export from=%s → 400 invalid_request', async (date) => {
      const r = await h.call('POST', '/api/v1/trust/exports', {
        key: m.merchantKey,
        body: { jurisdiction: 'EU', from: date },
      });
      expectProblem(r, 400, 'invalid_request');
    });

    it.each([
      '2024-02-29T00:00:00Z',
      '2000-02-29T12:00:00.123456789+05:30',
      '0001-01-01T00:00:00Z',
      '9999-12-31T23:59:59.999Z',
      '2026-06-30T23:59:59-00:00',
    ])('real instants are accepted: %s', async (date) => {
      const r = await h.call('GET', `${ISSUE}?to=${encodeURIComponent(date)}`, {
        key: m.merchantKey,
      });
      expect(r.status).toBe(200);
    });

    it('revokedAt of year 0000 is refused', async () => {
      const r = await h.call('POST', '/admin/v1/signing-keys/nobody-2026Q1/revoke', {
        key: ADMIN_TOKEN,
        body: { reason: 'test', revokedAt: '0000-01-01T00:00:00.000Z' },
      });
      expectProblem(r, 400, 'invalid_request');
    });
  });

  describe('h. values the database cannot hold or read back', () => {
    const issueKid = async () => {
      const r = await h.call('POST', ISSUE, { key: m.merchantKey, body: issueBody() });
      expect(r.status).toBe(201);
      return r.body.signingKeyKid as string;
    };
    const revoke = (kid: string, body: unknown) =>
      h.call('POST', `/admin/v1/signing-keys/${kid}/revoke`, { key: ADMIN_TOKEN, body });

    // Years 0001–0099 came back from the driver as 20xx or 19xx: the key's row disagreed
    // with its signed revocation statement, and every later snapshot failed to verify.
    it.each(['0001-01-01T00:00:00.000Z', '0099-06-30T00:00:00.000Z', '2020-01-01T00:00:00.000Z'])(
      'revokedAt %s, before the key existed, is refused and the key keeps signing',
      async (revokedAt) => {
        const kid = await issueKid();
        const r = await revoke(kid, { reason: 'test', revokedAt });
        expectProblem(r, 400, 'invalid_request');
        expect(r.body.detail).toMatch(/before the key's nbf/);
        expect(await issueKid()).toBe(kid);
      },
    );

    it('a NUL in a revocation reason is 400, and the key keeps signing', async () => {
      const kid = await issueKid();
      const r = await revoke(kid, { reason: 'a\u0000b' });
      expectProblem(r, 400, 'invalid_request');
      expect(await issueKid()).toBe(kid);
    });

    it('a NUL in a merchant name is 400, and no merchant is made', async () => {
      const r = await h.call('POST', '/admin/v1/merchants', {
        key: ADMIN_TOKEN,
        body: { merchantId: 'nul-name', jurisdiction: 'EU', name: 'a\u0000b' },
      });
      expectProblem(r, 400, 'invalid_request');
      const again = await h.call('POST', '/admin/v1/merchants', {
        key: ADMIN_TOKEN,
        body: { merchantId: 'nul-name', jurisdiction: 'EU', name: 'a b' },
      });
      expect(again.status).toBe(201);
    });

    it.each(['2147483648', '9007199254740991', '0x1', '1e0'])(
      'a snapshot version of %s (past the integer column, or not decimal digits) is 400, not 500',
      async (version) => {
        const month = new Date().toISOString().slice(0, 7);
        const r = await h.call(
          'GET',
          `/.well-known/jwks/snapshot/${month}.json?version=${version}`,
        );
        expectProblem(r, 400, 'invalid_request');
      },
    );
  });
});

describe.each(DRIVERS)('g. logs of a failing query on %s', (_driver, options) => {
  const lines: string[] = [];
  let h: Harness;
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    h = await createHarness({ ...options, logger: pino({ level: 'info' }, sink) });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('logs the error without query parameters or receipt content', async () => {
    const m = await h.merchant();
    const poison = `poison-${Math.random().toString(36).slice(2, 10)}`;
    // A statement that fails on the database: a check constraint the insert violates.
    await h.services.db.execute(
      sql.raw(`alter table receipts add constraint no_poison check (call_id <> '${poison}')`),
    );
    lines.length = 0;
    const r = await h.call('POST', ISSUE, {
      key: m.merchantKey,
      body: issueBody({
        callId: poison,
        agentId: 'agent-secret-7',
        orderId: 'order-secret-42',
        nonce: 'nonce-secret-value',
        trust_provider_assertions: [{ sig: 'assertion-secret-sig' }],
        input: { card: 'input-secret-body' },
        output: { ok: 'output-secret-body' },
      }),
    });
    expect(r.status).toBe(500);
    expect(r.body.code).toBe('internal_error');
    const log = lines.join('\n');
    const failed = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'request failed');
    expect(failed).toBeDefined();
    // Still useful: the SQLSTATE, the constraint and where it failed.
    expect(failed.err.code).toBe('23514');
    expect(JSON.stringify(failed.err)).toContain('no_poison');
    expect(failed.err.stack).toMatch(/\n\s+at /);
    for (const secret of [
      poison,
      'agent-secret-7',
      'order-secret-42',
      'nonce-secret-value',
      'assertion-secret-sig',
      'input-secret-body',
      'output-secret-body',
      'params:',
      'Failed query',
      'Failing row',
    ]) {
      expect(log).not.toContain(secret);
    }
    await h.services.db.execute(sql.raw('alter table receipts drop constraint no_poison'));
  });

  it('logs a failed query builder statement without its parameters', async () => {
    const m = await h.merchant();
    const issued = await h.call('POST', ISSUE, {
      key: m.merchantKey,
      body: issueBody({ orderId: 'order-secret-77' }),
    });
    expect(issued.status).toBe(201);
    // A statement that fails: the column the query names is gone for a moment.
    await h.services.db.execute(
      sql.raw('alter table receipts rename column order_id to order_id_moved'),
    );
    lines.length = 0;
    try {
      const r = await h.call('GET', '/api/v1/trust/receipts/by-order/order-secret-77', {
        key: m.merchantKey,
      });
      expect(r.status).toBe(500);
    } finally {
      await h.services.db.execute(
        sql.raw('alter table receipts rename column order_id_moved to order_id'),
      );
    }
    const log = lines.join('\n');
    const failed = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'request failed');
    expect(failed.err).toMatchObject({ name: 'DrizzleQueryError', code: '42703' });
    expect(failed.err.message).toMatch(/^failed query \(select from "receipts"\)/);
    for (const secret of ['order-secret-77', 'params:', 'Failed query']) {
      expect(log).not.toContain(secret);
    }
    // Request lines say who called (the merchant); the error line says nothing of the query.
    expect(JSON.stringify(failed)).not.toContain(m.merchantId);
  });

  it('logs no receipt id or order id in request lines', async () => {
    const m = await h.merchant();
    lines.length = 0;
    await h.call('GET', '/api/v1/trust/receipts/by-order/order-secret-99', { key: m.merchantKey });
    await h.call('GET', '/api/v1/trust/receipts/trcpt_01JD5Z7Q8M3V9K2X4N6P8R0T2W', {
      key: m.merchantKey,
    });
    const log = lines.join('\n');
    expect(log).toContain('"msg":"request"');
    expect(log).not.toContain('order-secret-99');
    expect(log).not.toContain('01JD5Z7Q8M3V9K2X4N6P8R0T2W');
  });
});

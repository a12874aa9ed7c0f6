import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  base64url,
  bodyHash,
  buildSignedReceipt,
  canonicalJson,
  entryHash,
  FormatError,
  fromBase64url,
  GENESIS_HASH,
  MAX_SIGNING_INPUT_BYTES,
  parseDetachedJws,
  planReceiptSignature,
  receiptHash,
  receiptHashOf,
  type SignedReceipt,
} from '../src';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function receiptClaims(extra: Partial<SignedReceipt> = {}): SignedReceipt {
  return {
    ...buildSignedReceipt({
      id: 'trcpt_01JD5Z7Q8M3V9K2X4N6P8R0T2W',
      merchantId: 'acme',
      request: {
        callId: 'c1',
        agentId: 'a1',
        bucket: 'checkout',
        tool: 'complete_checkout',
        orderId: 'o1',
      },
      inputHash: 'a'.repeat(64),
      outputHash: 'b'.repeat(64),
      createdAt: '2026-11-20T10:15:30.123Z',
      signingKeyKid: 'acme-2026Q4',
      jwksSnapshotUrl: 'https://q.example/.well-known/jwks/snapshot/2026-11.json',
    }),
    ...extra,
  };
}

describe('body hashes (SPEC §3)', () => {
  it('hash the UTF-8 of the canonical form', async () => {
    expect(await bodyHash({ sku: 'A-1', qty: 2 })).toBe(sha256('{"qty":2,"sku":"A-1"}'));
    expect(await bodyHash('€')).toBe(sha256('"€"'));
  });
  it('refuse a body that is not I-JSON', async () => {
    await expect(bodyHash({ price: Number.NaN })).rejects.toMatchObject({ code: 'not_i_json' });
  });
});

describe('signing input (SPEC §2)', () => {
  it('is BASE64URL(JCS(header)) "." BASE64URL(JCS(signed members))', () => {
    const claims = receiptClaims();
    const plan = planReceiptSignature(claims);
    const [header, payload] = new TextDecoder().decode(plan.signingInput).split('.') as [
      string,
      string,
    ];
    expect(new TextDecoder().decode(fromBase64url(header))).toBe(
      '{"alg":"EdDSA","kid":"acme-2026Q4","typ":"quittance-receipt+jws"}',
    );
    expect(new TextDecoder().decode(fromBase64url(payload))).toBe(canonicalJson(claims));
  });

  it('leaves out envelope members and omitted optional members', () => {
    const claims = receiptClaims();
    const withEnvelope = {
      ...claims,
      jws: 'x..y',
      legal_posture: 'signed',
      timestamp: null,
      chain: {},
    };
    expect(planReceiptSignature(withEnvelope as SignedReceipt).signingInput).toEqual(
      planReceiptSignature(claims).signingInput,
    );
    expect(Object.keys(claims)).not.toContain('nonce');
  });

  /** A receipt whose signing input is exactly `bytes` long, padded through the nonce. */
  function receiptOfSigningInput(bytes: number): SignedReceipt {
    // Each 3 nonce characters add 4 base64url characters; fill with trust assertions.
    for (let pad = 0; pad < 4000; pad++) {
      const claims = receiptClaims({ trust_provider_assertions: [{ p: 'x'.repeat(pad) }] });
      const base = planSize(claims);
      if (base === bytes) return claims;
      if (base > bytes) break;
    }
    throw new Error(`no receipt of exactly ${bytes} bytes`);
  }
  function planSize(claims: SignedReceipt): number {
    try {
      return planReceiptSignature(claims).signingInput.length;
    } catch (error) {
      return (error as FormatError).code === 'signing_input_too_large'
        ? Number.POSITIVE_INFINITY
        : 0;
    }
  }

  it('accepts exactly 4096 bytes and refuses 4097', () => {
    let claims: SignedReceipt | undefined;
    for (
      let target = MAX_SIGNING_INPUT_BYTES;
      target > MAX_SIGNING_INPUT_BYTES - 4 && !claims;
      target--
    ) {
      try {
        claims = receiptOfSigningInput(target);
      } catch {}
    }
    expect(claims).toBeDefined();
    const size = planReceiptSignature(claims as SignedReceipt).signingInput.length;
    expect(size).toBeLessThanOrEqual(MAX_SIGNING_INPUT_BYTES);
    // Grow the payload by the fewest bytes that cross the limit.
    const pad = (claims as SignedReceipt).trust_provider_assertions?.[0]?.p as string;
    let over = 0;
    for (let extra = 1; extra < 8; extra++) {
      const bigger = receiptClaims({ trust_provider_assertions: [{ p: pad + 'x'.repeat(extra) }] });
      try {
        planReceiptSignature(bigger);
      } catch (error) {
        expect(error).toBeInstanceOf(FormatError);
        expect((error as FormatError).code).toBe('signing_input_too_large');
        expect((error as FormatError).message).toMatch(/is 409[7-9] bytes|is 4100 bytes/);
        over = extra;
        break;
      }
    }
    expect(over).toBeGreaterThan(0);
  });
});

describe('hashes of the audit log (SPEC §6)', () => {
  it('receiptHash hashes the attached compact JWS', async () => {
    const claims = receiptClaims();
    const plan = planReceiptSignature(claims);
    const signature = new Uint8Array(64).fill(7);
    const attached = `${new TextDecoder().decode(plan.signingInput)}.${base64url(signature)}`;
    expect(await receiptHashOf(plan, signature)).toBe(sha256(attached));
    const jws = `${plan.headerB64}..${base64url(signature)}`;
    expect(await receiptHash({ ...claims, jws })).toBe(sha256(attached));
  });

  it('entryHash hashes the JCS of {seq, prevHash, receiptId, receiptHash}', async () => {
    const entry = {
      seq: 1,
      prevHash: GENESIS_HASH,
      receiptId: 'trcpt_X',
      receiptHash: 'c'.repeat(64),
    };
    expect(await entryHash(entry)).toBe(
      sha256(
        `{"prevHash":"${GENESIS_HASH}","receiptHash":"${'c'.repeat(64)}","receiptId":"trcpt_X","seq":1}`,
      ),
    );
  });
});

describe('detached JWS parsing', () => {
  it.each(['a.b.c', 'a..', '..b', 'a...b', 'ab', 'a..b=', 'a..b+c'])('refuses %j', (jws) => {
    expect(() => parseDetachedJws(jws)).toThrow(expect.objectContaining({ code: 'invalid_jws' }));
  });
});

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { base64url, kidFor, publisherKid, utf8 } from '../src';

describe('publisherKid (RFC 7638 thumbprint)', () => {
  it('takes the first 16 characters of the RFC 8037 §A.3 thumbprint', async () => {
    // RFC 8037 Appendix A.3: the thumbprint of the Ed25519 key of A.2.
    expect(await publisherKid('11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo')).toBe(
      `publisher-${'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k'.slice(0, 16)}`,
    );
  });

  it('equals the hand-written hash of the required members that it replaced', async () => {
    const x = 'rZEvGp67kZ0_h6cAI0kxGwfGFrL4kXPkW1Y8cm7i0yA';
    const members = `{"crv":"Ed25519","kty":"OKP","x":"${x}"}`;
    const digest = createHash('sha256').update(utf8(members)).digest();
    expect(await publisherKid(x)).toBe(`publisher-${base64url(digest).slice(0, 16)}`);
  });
});

describe('kidFor (SPEC §5)', () => {
  const at = new Date('2026-11-28T10:00:00.000Z');
  it("names a quarter's first key without a suffix and its k-th key -k, as the conformance vectors do", () => {
    expect(kidFor('acme', at)).toBe('acme-2026Q4');
    // The vectors' second key of a quarter is mch_conf-2026Q3-2 (earlier releases said -1).
    expect(kidFor('acme', at, 1)).toBe('acme-2026Q4-2');
    expect(kidFor('acme', at, 2)).toBe('acme-2026Q4-3');
    expect(kidFor('mch_conf', new Date('2026-07-01T00:00:00.000Z'), 1)).toBe('mch_conf-2026Q3-2');
  });
});

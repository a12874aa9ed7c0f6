import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { base64url, publisherKid, utf8 } from '../src';

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

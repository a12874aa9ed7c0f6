import { base64url, fromBase64url } from '@quittance/format';
import { describe, expect, it } from 'vitest';
import { createEd25519Verifier as nodeVerifier } from '../src/node/ed25519';
import { createEd25519Verifier as webVerifier } from '../src/web/ed25519';

// RFC 8037 Appendix A.4: the same vector must pass both backends (Node and browsers).
const x = '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo';
const jws =
  'eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg';
const [header, payload, signature] = jws.split('.') as [string, string, string];
const input = new TextEncoder().encode(`${header}.${payload}`);

describe.each([
  ['node:crypto', nodeVerifier],
  ['jose (WebCrypto)', webVerifier],
])('Ed25519 backend %s', (_name, create) => {
  it('accepts the RFC 8037 A.4 signature', async () => {
    expect(await create()(x, input, fromBase64url(signature))).toBe(true);
  });

  it('rejects a flipped bit, a short signature, and another message', async () => {
    const verify = create();
    const flipped = fromBase64url(signature);
    flipped[0] = (flipped[0] as number) ^ 1;
    expect(await verify(x, input, flipped)).toBe(false);
    expect(await verify(x, input, fromBase64url(signature).subarray(0, 63))).toBe(false);
    const other = new TextEncoder().encode(
      `${header}.${base64url(new TextEncoder().encode('other'))}`,
    );
    expect(await verify(x, other, fromBase64url(signature))).toBe(false);
  });
});

import { base64url } from '@quittance/format';
import { flattenedVerify, importJWK } from 'jose';

type VerifyKey = Awaited<ReturnType<typeof importJWK>>;

/** Browsers and other runtimes: jose over WebCrypto; keys imported once per `x`. */
export function createEd25519Verifier() {
  const keys = new Map<string, Promise<VerifyKey>>();
  return async (x: string, signingInput: Uint8Array, signature: Uint8Array): Promise<boolean> => {
    let key = keys.get(x);
    if (!key) {
      key = importJWK({ kty: 'OKP', crv: 'Ed25519', x }, 'EdDSA');
      keys.set(x, key);
    }
    const text = new TextDecoder().decode(signingInput);
    const dot = text.indexOf('.');
    try {
      await flattenedVerify(
        {
          protected: text.slice(0, dot),
          payload: text.slice(dot + 1),
          signature: base64url(signature),
        },
        await key,
        { algorithms: ['EdDSA'] },
      );
      return true;
    } catch {
      return false;
    }
  };
}

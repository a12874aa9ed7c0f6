import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { INLINE_MESSAGE_BYTES, signEd25519, verifyEd25519 } from '../src/ed25519';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const spki = publicKey.export({ format: 'der', type: 'spki' });

/** WebCrypto's own check, not the function under test. */
async function webCryptoVerifies(message: Uint8Array, signature: Uint8Array) {
  const key = await webcrypto.subtle.importKey('spki', spki, 'Ed25519', false, ['verify']);
  return webcrypto.subtle.verify('Ed25519', key, signature, message);
}

describe('Ed25519 on the event loop for small messages, on the thread pool for large ones', () => {
  // Both sides of the size rule, and its edge.
  for (const size of [0, 700, INLINE_MESSAGE_BYTES, INLINE_MESSAGE_BYTES + 1, 200_000]) {
    it(`signs and checks a ${size}-byte message`, async () => {
      const message = new Uint8Array(size).map((_, i) => (i * 31 + size) & 0xff);
      const signature = await signEd25519(privateKey, message);
      expect(signature).toHaveLength(64);
      expect(await webCryptoVerifies(message, signature)).toBe(true);
      expect(await verifyEd25519(publicKey, message, signature)).toBe(true);
      const forged = signature.slice();
      forged[10] = (forged[10] as number) ^ 1;
      expect(await verifyEd25519(publicKey, message, forged)).toBe(false);
      if (size > 0) {
        const altered = message.slice();
        altered[size - 1] = (altered[size - 1] as number) ^ 1;
        expect(await verifyEd25519(publicKey, altered, signature)).toBe(false);
      }
    });
  }

  it('a large message is signed without holding the event loop for the whole signature', async () => {
    const message = new Uint8Array(8 << 20);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    await new Promise((r) => setTimeout(r, 5));
    const before = ticks;
    const pending = signEd25519(privateKey, message);
    // The call returned before the signature exists: the work is elsewhere.
    let settled = false;
    void pending.then(() => {
      settled = true;
    });
    await Promise.resolve();
    expect(settled).toBe(false);
    await pending;
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(before);
  });
});

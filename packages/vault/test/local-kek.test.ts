import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LocalKeyWrapper, parseLocalKek, VaultError } from '../src';

describe('QUITTANCE_LOCAL_KEK and what it wraps', () => {
  it('parses base64url of 32 bytes, padded or not, and refuses anything else without echoing it', () => {
    const key = randomBytes(32);
    expect(Buffer.from(parseLocalKek(key.toString('base64url'))).equals(key)).toBe(true);
    expect(Buffer.from(parseLocalKek(`${key.toString('base64url')}=`)).equals(key)).toBe(true);
    for (const bad of [
      '',
      key.toString('hex'),
      randomBytes(31).toString('base64url'),
      key.toString('base64').replace(/[A-Za-z0-9]/, '+'),
    ]) {
      let error: unknown;
      try {
        parseLocalKek(bad);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(VaultError);
      expect((error as Error).message).toMatch(/^QUITTANCE_LOCAL_KEK must be base64url of 32/);
      if (bad) expect((error as Error).message).not.toContain(bad);
    }
  });

  it('wraps any secret bound to its context; only the same key and context unwrap it', async () => {
    const kek = LocalKeyWrapper.fromKey(new Uint8Array(randomBytes(32)));
    const secret = new Uint8Array(randomBytes(32));
    const wrapped = kek.wrap(secret, { name: 'publisher' });
    expect(wrapped.length).toBe(12 + 32 + 16);
    expect(Buffer.from(wrapped).includes(Buffer.from(secret))).toBe(false);
    expect(Buffer.from(await kek.unwrap(wrapped, { name: 'publisher' })).equals(secret)).toBe(true);
    await expect(kek.unwrap(wrapped, { name: 'vault-kek' })).rejects.toMatchObject({
      code: 'unwrap_failed',
    });
    const other = LocalKeyWrapper.fromKey(new Uint8Array(randomBytes(32)));
    await expect(other.unwrap(wrapped, { name: 'publisher' })).rejects.toMatchObject({
      code: 'unwrap_failed',
    });
  });

  it('names each key by a stable fingerprint that differs between keys', () => {
    const bytes = new Uint8Array(randomBytes(32));
    const id = LocalKeyWrapper.fromKey(bytes).id;
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(LocalKeyWrapper.fromKey(bytes.slice()).id).toBe(id);
    expect(LocalKeyWrapper.fromKey(new Uint8Array(randomBytes(32))).id).not.toBe(id);
  });
});

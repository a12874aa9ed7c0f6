import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { base64url, base64urlPortable, fromBase64url } from '../src';

describe('base64url', () => {
  it('the portable encoder (browsers) agrees with the native one (Node) and round-trips', () => {
    for (let length = 0; length < 70; length++) {
      const bytes = new Uint8Array(randomBytes(length));
      expect(base64urlPortable(bytes)).toBe(Buffer.from(bytes).toString('base64url'));
      expect(base64url(bytes)).toBe(base64urlPortable(bytes));
      expect(fromBase64url(base64url(bytes))).toEqual(bytes);
    }
  });

  it('decoding is strict: no padding, no other alphabet, no stray bits', () => {
    for (const text of ['AA==', 'A+B/', 'AB', 'A']) {
      if (text === 'AB') expect(() => fromBase64url('AB')).toThrow(/trailing bits/);
      else expect(() => fromBase64url(text)).toThrow();
    }
    expect(fromBase64url('AA')).toEqual(Uint8Array.of(0));
  });
});

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  base64url,
  base64urlPortable,
  concatBytes,
  fromBase64,
  fromBase64url,
  fromHex,
  toBase64,
  toHex,
} from '../src';

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

describe('hex', () => {
  it('round-trips every byte value, lowercase out, either case in', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const hex = toHex(all);
    expect(hex).toBe(Buffer.from(all).toString('hex'));
    expect(fromHex(hex)).toEqual(all);
    expect(fromHex(hex.toUpperCase())).toEqual(all);
    expect(toHex(all.subarray(254))).toBe('feff');
  });

  it('decoding is strict: odd lengths and other characters throw', () => {
    for (const bad of ['a', 'abc', 'zz', '0x00', '00 ', '+1']) {
      expect(() => fromHex(bad)).toThrow(TypeError);
    }
    expect(fromHex('')).toEqual(new Uint8Array());
  });
});

describe('base64', () => {
  it('agrees with Node, padded, and round-trips', () => {
    for (let length = 0; length < 70; length++) {
      const bytes = new Uint8Array(randomBytes(length));
      expect(toBase64(bytes)).toBe(Buffer.from(bytes).toString('base64'));
      expect(fromBase64(toBase64(bytes))).toEqual(bytes);
    }
  });

  it('decodes as atob does: white space and missing padding pass, other alphabets throw', () => {
    expect(fromBase64('AAE=')).toEqual(Uint8Array.of(0, 1));
    expect(fromBase64('AA E')).toEqual(Uint8Array.of(0, 1));
    expect(fromBase64('AAE')).toEqual(Uint8Array.of(0, 1));
    for (const bad of ['A-E=', 'A_E=', 'A', 'AAE==', '€']) expect(() => fromBase64(bad)).toThrow();
  });

  it('encodes a view, not its whole buffer', () => {
    const view = Uint8Array.of(9, 1, 2, 3, 9).subarray(1, 4);
    expect(toBase64(view)).toBe('AQID');
    expect(toHex(view)).toBe('010203');
  });
});

describe('concatBytes', () => {
  it('puts the parts one after the other in a new array', () => {
    const a = Uint8Array.of(1, 2);
    const joined = concatBytes([a, new Uint8Array(), Uint8Array.of(3)]);
    expect(joined).toEqual(Uint8Array.of(1, 2, 3));
    joined[0] = 7;
    expect(a[0]).toBe(1);
    expect(concatBytes([])).toEqual(new Uint8Array());
  });
});

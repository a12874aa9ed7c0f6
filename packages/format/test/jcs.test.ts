import { describe, expect, it } from 'vitest';
import { canonicalJson, FormatError, findNonIJson, isIJson } from '../src';
import { MAX_JSON_DEPTH } from '../src/jcs';

/** IEEE 754 double from its 16-hex-digit bit pattern. */
function fromBits(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

describe('RFC 8785', () => {
  it('serializes the §3.2.2 example', () => {
    const input = JSON.parse(
      '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],' +
        '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
    );
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts member names by UTF-16 code units (§3.2.3)', () => {
    const input = JSON.parse(
      '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh",' +
        '"1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control",' +
        '"\\u00f6":"Latin Small Letter O With Diaeresis"}',
    );
    expect(canonicalJson(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis",' +
        '"€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it.each([
    ['0000000000000000', '0'],
    ['8000000000000000', '0'],
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ])('serializes the number with bits %s as %s (Appendix B)', (bits, text) => {
    expect(canonicalJson(fromBits(bits))).toBe(text);
  });

  it('escapes strings as §3.2.2.2 requires', () => {
    expect(canonicalJson('\u0000\u0001\b\t\n\u000b\f\r\u001f"\\/é€😀\u007f')).toBe(
      '"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\\"\\\\/é€😀\u007f"',
    );
  });
});

describe('rejects what is not I-JSON', () => {
  const cases: [string, unknown][] = [
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', { a: [Number.NEGATIVE_INFINITY] }],
    ['NaN bits', fromBits('7fffffffffffffff')],
    ['lone high surrogate', 'a\ud800'],
    ['lone low surrogate', { s: '\udc00b' }],
    ['reversed pair', '\ude00\ud83d'],
    ['lone surrogate in a member name', { 'k\ud800': 1 }],
    ['undefined member', { a: undefined }],
    ['undefined value', undefined],
    // biome-ignore lint/suspicious/noSparseArray: the hole is what is tested
    ['array hole', [1, , 3]],
    ['Date', { at: new Date(0) }],
    ['Map', new Map([['a', 1]])],
    [
      'class instance',
      new (class Point {
        x = 1;
      })(),
    ],
    ['BigInt', { n: 10n }],
    ['function', { f: () => 1 }],
    ['symbol', Symbol('s')],
  ];
  it.each(cases)('%s', (_name, value) => {
    expect(() => canonicalJson(value)).toThrow(FormatError);
    try {
      canonicalJson(value);
    } catch (error) {
      expect((error as FormatError).code).toBe('not_i_json');
    }
  });

  it('accepts objects without a prototype and well-formed surrogate pairs', () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.b = '😀';
    bare.a = 1;
    expect(canonicalJson(bare)).toBe('{"a":1,"b":"😀"}');
  });
});

describe('nesting depth', () => {
  /** `levels` arrays (or objects) inside each other, built without recursion. */
  function nested(levels: number, kind: 'array' | 'object'): unknown {
    let value: unknown = 1;
    for (let i = 0; i < levels; i++) value = kind === 'array' ? [value] : { a: value };
    return value;
  }

  it.each(['array', 'object'] as const)('accepts %s nesting of exactly 128 levels', (kind) => {
    const value = nested(MAX_JSON_DEPTH, kind);
    expect(MAX_JSON_DEPTH).toBe(128);
    expect(isIJson(value)).toBe(true);
    expect(findNonIJson(value)).toBeNull();
    expect(canonicalJson(value)).toBe(JSON.stringify(value));
  });

  it.each([
    ['array', 129],
    ['object', 129],
    ['array', 100_000],
    ['object', 100_000],
  ] as const)(
    'refuses %s nesting of %i levels as not_i_json, without a stack overflow',
    (kind, levels) => {
      const value = nested(levels, kind);
      expect(isIJson(value)).toBe(false);
      expect(findNonIJson(value)).toMatch(/: nested deeper than 128 levels$/);
      let thrown: unknown;
      try {
        canonicalJson(value);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(FormatError);
      expect((thrown as FormatError).code).toBe('not_i_json');
      expect((thrown as FormatError).issues[0]?.path).toMatch(
        kind === 'array' ? /^(\/0){128}$/ : /^(\/a){128}$/,
      );
    },
  );

  it('refuses a cyclic value instead of overflowing the stack', () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(isIJson(cycle)).toBe(false);
    expect(() => canonicalJson(cycle)).toThrow(FormatError);
  });
});

describe('the same text as the canonicalize package', () => {
  // canonicalJson writes JCS itself (one pass, measured faster on the issue path); the
  // package it replaced is the reference on random I-JSON values.
  it('on 2,000 random I-JSON values', async () => {
    const { default: canonicalize } = await import('canonicalize');
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pieces = ['a', 'Z', '0', '€', '😀', '\n', '"', '\\', '\u0001', 'é', '\ufb33', '/', ' '];
    const text = () =>
      Array.from(
        { length: Math.floor(random() * 6) },
        () => pieces[Math.floor(random() * pieces.length)],
      ).join('');
    const value = (depth: number): unknown => {
      const kind = Math.floor(random() * (depth > 3 ? 4 : 6));
      if (kind === 0) return text();
      if (kind === 1) return (random() - 0.5) * 10 ** Math.floor(random() * 40 - 20);
      if (kind === 2) return random() < 0.5;
      if (kind === 3) return random() < 0.5 ? null : Math.floor(random() * 1000);
      if (kind === 4)
        return Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1));
      return Object.fromEntries(
        Array.from({ length: Math.floor(random() * 5) }, () => [text(), value(depth + 1)]),
      );
    };
    for (let i = 0; i < 2000; i++) {
      const v = value(0);
      expect(canonicalJson(v)).toBe(canonicalize(v));
    }
  });
});

describe('objects written through a member list (the fast path)', () => {
  // canonicalJson hands values of 8 members or more to JSON.stringify with the sorted list of
  // every member name; these are the cases where that list, or JSON.stringify itself, would
  // read something the value's members do not say. PAD makes each value large enough to be
  // written that way; "~" sorts after every other name here.
  const PAD = '"~":{"p0":0,"p1":0,"p2":0,"p3":0,"p4":0,"p5":0,"p6":0,"p7":0}';
  const parsed = (members: string) => JSON.parse(`{${members},${PAD}}`);
  const text = (members: string) => `{${members},${PAD}}`;

  it('leaves __proto__ out of the objects that do not have it', () => {
    const value = parsed('"b":{"__proto__":1},"a":{},"c":[{"x":1},{"__proto__":{"y":2}}]');
    expect(canonicalJson(value)).toBe(
      text('"a":{},"b":{"__proto__":1},"c":[{"x":1},{"__proto__":{"y":2}}]'),
    );
  });

  it('writes members named as Object.prototype methods only where they are', () => {
    const value = parsed('"a":{"toString":1,"constructor":"c"},"b":{},"c":{"valueOf":null}');
    expect(canonicalJson(value)).toBe(
      text('"a":{"constructor":"c","toString":1},"b":{},"c":{"valueOf":null}'),
    );
  });

  it('ignores a polluted Object.prototype, as the member-by-member path does', () => {
    const prototype = Object.prototype as Record<string, unknown>;
    prototype.polluted = 'inherited';
    try {
      expect(canonicalJson(parsed('"b":{"polluted":1},"a":{}'))).toBe(
        text('"a":{},"b":{"polluted":1}'),
      );
    } finally {
      delete prototype.polluted;
    }
  });

  it('calls no toJSON: on a prototype, on an array or on an object', () => {
    const prototype = Object.prototype as Record<string, unknown>;
    const arrays = Array.prototype as unknown as Record<string, unknown>;
    prototype.toJSON = () => 'replaced';
    try {
      expect(canonicalJson(parsed('"a":[{"z":1}]'))).toBe(text('"a":[{"z":1}]'));
    } finally {
      delete prototype.toJSON;
    }
    arrays.toJSON = () => 'replaced';
    try {
      expect(canonicalJson(parsed('"a":[1]'))).toBe(text('"a":[1]'));
    } finally {
      delete arrays.toJSON;
    }
    const array = parsed('"a":[1]');
    Object.defineProperty(array.a, 'toJSON', { value: () => 'replaced' });
    expect(canonicalJson(array)).toBe(text('"a":[1]'));
    const object = parsed('"b":{"c":1}');
    Object.defineProperty(object.b, 'toJSON', { value: () => 'replaced' });
    expect(canonicalJson(object)).toBe(text('"b":{"c":1}'));
    // A member named toJSON is data, written as such.
    expect(canonicalJson(parsed('"toJSON":"x"'))).toBe(text('"toJSON":"x"'));
  });

  it('writes array subclasses, boxed primitives and arguments as the member-by-member path does', () => {
    class Listed extends Array<number> {
      toJSON() {
        return 'replaced';
      }
    }
    const inside = (member: unknown) => Object.assign(parsed('"a":0'), { a: member });
    expect(canonicalJson(inside(Listed.from([1])))).toBe(text('"a":[1]'));
    expect(canonicalJson(inside(Object.setPrototypeOf(new Number(5), Object.prototype)))).toBe(
      text('"a":{}'),
    );
    expect(canonicalJson(inside(Object.setPrototypeOf(Object(1n), Object.prototype)))).toBe(
      text('"a":{}'),
    );
    const args = (function (this: unknown) {
      // biome-ignore lint/complexity/noArguments: the arguments object is the case
      return arguments;
    })();
    expect(canonicalJson(inside(args))).toBe(text('"a":{}'));
  });

  it('sorts integer-like names as strings, not in the order objects keep them', () => {
    const value = parsed('"10":1,"9":2,"a":3,"1":0,"b":{"2":0,"10":0}');
    expect(Object.keys(value)).toEqual(['1', '9', '10', 'a', 'b', '~']);
    expect(canonicalJson(value)).toBe(text('"1":0,"10":1,"9":2,"a":3,"b":{"10":0,"2":0}'));
  });

  it('gives the same text when the list is too long to check against every object', async () => {
    const { default: canonicalize } = await import('canonicalize');
    const wide = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, { v: i }]));
    const many = Array.from({ length: 300 }, (_, i) => ({ [`n${i}`]: i }));
    expect(canonicalJson(wide)).toBe(canonicalize(wide));
    expect(canonicalJson(many)).toBe(canonicalize(many));
  });
});

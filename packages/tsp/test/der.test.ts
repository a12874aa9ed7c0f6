import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { concatBytes } from '@quittance/format';
import * as asn1js from 'asn1js';
import { describe, expect, it } from 'vitest';
import { parsePemCertificates, TspError, verifyTimestampToken } from '../src';
import {
  assertWellFormed,
  childrenOf,
  contentOf,
  encodingOf,
  octetStringValue,
  oidOf,
  readDer,
  type Tlv,
} from '../src/der';
import { parseTimeStampResp, parseToken } from '../src/token';
import { derLength, element, hex, rebuild } from './helpers/der-build';
import { rejection } from './helpers/rejection';

// der.ts reads the parts of every token that change, in place of asn1js (kept for speed). Each
// case is read by both where asn1js has an answer: they must agree, or der.ts must be the
// stricter one, as said in the test.

const fixtures = join(import.meta.dirname, 'fixtures');
const response = new Uint8Array(readFileSync(join(fixtures, 'openssl-tsa-response.tsr')));
const token = parseTimeStampResp(response).token as Uint8Array;

/** The message of the `malformed` TspError that `read` throws. */
function malformed(read: () => unknown): string {
  let thrown: unknown;
  try {
    read();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(TspError);
  expect((thrown as TspError).code).toBe('malformed');
  return (thrown as TspError).message;
}

/** What asn1js makes of the same bytes: its element, or its error. */
function asn1(bytes: Uint8Array): { element?: asn1js.AsnType; error?: string } {
  const parsed = asn1js.fromBER(bytes);
  if (parsed.offset === -1) return { error: parsed.result.error };
  if (parsed.offset !== bytes.length) return { error: 'trailing bytes' };
  return { element: parsed.result };
}

/** Tag and lengths of an element, as der.ts reads it and as asn1js does (class 0-based). */
function header(tlv: Tlv) {
  return {
    tagClass: tlv.tagClass,
    constructed: tlv.constructed,
    tagNumber: tlv.tagNumber,
    contentLength: tlv.contentEnd - tlv.contentStart,
    encodedLength: tlv.end - tlv.start,
  };
}

function asn1Header(node: asn1js.AsnType) {
  const block = node as asn1js.BaseBlock<asn1js.ValueBlock>;
  return {
    tagClass: block.idBlock.tagClass - 1,
    constructed: block.idBlock.isConstructed,
    tagNumber: block.idBlock.tagNumber,
    contentLength: block.lenBlock.isIndefiniteForm
      ? block.blockLength - block.idBlock.blockLength - block.lenBlock.blockLength - 2
      : block.lenBlock.length,
    encodedLength: block.blockLength,
  };
}

describe('tags', () => {
  it('low tag numbers: class, constructed bit and number in one byte', () => {
    const cases: [string, number, boolean, number][] = [
      ['05 00', 0, false, 5],
      ['30 00', 0, true, 16],
      ['31 00', 0, true, 17],
      ['40 00', 1, false, 0],
      ['7e 00', 1, true, 30],
      ['80 00', 2, false, 0],
      ['a3 00', 2, true, 3],
      ['c1 00', 3, false, 1],
      ['ff 01 00', 3, true, 1],
    ];
    for (const [text, tagClass, constructed, tagNumber] of cases) {
      const bytes = hex(text);
      const tlv = readDer(bytes, 'x');
      expect({ text, ...header(tlv) }).toMatchObject({ text, tagClass, constructed, tagNumber });
      expect(header(tlv)).toEqual(asn1Header(asn1(bytes).element as asn1js.AsnType));
    }
  });

  it('high tag numbers: base-128 after 0x1f, up to four bytes', () => {
    const cases: [string, number, boolean, number][] = [
      ['9f 1f 00', 2, false, 31],
      ['9f 81 00 00', 2, false, 128],
      ['bf 87 68 00', 2, true, 1000],
      ['5f ff ff ff 7f 00', 1, false, 2 ** 28 - 1],
    ];
    for (const [text, tagClass, constructed, tagNumber] of cases) {
      const bytes = hex(text);
      expect(header(readDer(bytes, 'x'))).toMatchObject({ tagClass, constructed, tagNumber });
      expect(header(readDer(bytes, 'x'))).toEqual(
        asn1Header(asn1(bytes).element as asn1js.AsnType),
      );
    }
  });

  it('a tag number of five bytes is refused', () => {
    expect(malformed(() => readDer(hex('9f 81 81 81 81 01 00'), 'x'))).toMatch(/bad tag number/);
  });

  it('a tag number with a leading zero group is refused (asn1js takes it)', () => {
    // X.690 8.1.2.4.2 c: the first subsequent octet is never 0x80.
    expect(malformed(() => readDer(hex('9f 80 01 00'), 'x'))).toMatch(/bad tag number/);
    expect(asn1(hex('9f 80 01 00')).element).toBeDefined();
  });

  it('a tag cut short is truncated', () => {
    for (const text of ['', '9f', '9f 81', '30']) {
      expect(malformed(() => readDer(hex(text), 'x'))).toMatch(/truncated/);
      expect(asn1(hex(text)).error).toBeTruthy();
    }
  });

  it('the high form of a number below 31 is read, as asn1js reads it (DER wants the low one)', () => {
    const bytes = hex('9f 05 00');
    expect(header(readDer(bytes, 'x'))).toMatchObject({ tagClass: 2, tagNumber: 5 });
    expect(asn1Header(asn1(bytes).element as asn1js.AsnType).tagNumber).toBe(5);
  });
});

describe('lengths', () => {
  it('short form up to 127, long form beyond, as asn1js reads them', () => {
    for (const length of [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 24]) {
      const bytes = element(0x04, new Uint8Array(length));
      const tlv = readDer(bytes, 'x');
      expect(header(tlv)).toMatchObject({ contentLength: length, encodedLength: bytes.length });
      expect(tlv.contentStart).toBe(1 + derLength(length).length);
      expect(header(tlv)).toEqual(asn1Header(asn1(bytes).element as asn1js.AsnType));
    }
  });

  it('a length that overruns the input is truncated, also a 4 GiB one', () => {
    for (const text of [
      '04 02 aa',
      '04 81',
      '04 82 01',
      '04 84 ff ff ff ff aa',
      '30 05 04 03 aa',
    ]) {
      expect(malformed(() => readDer(hex(text), 'x'))).toMatch(/truncated/);
      expect(asn1(hex(text)).error).toBeTruthy();
    }
  });

  it('more than four length bytes, or the reserved 0xff, is refused', () => {
    expect(malformed(() => readDer(hex('04 85 00 00 00 00 01 aa'), 'x'))).toMatch(/4 GiB/);
    expect(malformed(() => readDer(hex('04 ff aa'), 'x'))).toMatch(/4 GiB/);
    expect(asn1(hex('04 ff aa')).error).toMatch(/reserved/);
  });

  it('a child that overruns its parent is truncated, though the input goes on', () => {
    // [0] { SEQUENCE (3 bytes) { OCTET STRING of 2 bytes, 1 inside the SEQUENCE }, NULL }
    const bytes = hex('a0 07 30 03 04 02 aa 05 00');
    const outer = readDer(bytes, 'x');
    const [inner, nul] = childrenOf(outer, 'x');
    expect([inner, nul].map((tlv) => (tlv as Tlv).tagNumber)).toEqual([16, 5]);
    expect(malformed(() => childrenOf(inner as Tlv, 'x'))).toMatch(/truncated/);
    expect(malformed(() => assertWellFormed(outer, 'x'))).toMatch(/truncated/);
    expect(asn1(bytes).error).toBeTruthy();
  });

  it('bytes after the element are refused', () => {
    expect(malformed(() => readDer(hex('04 01 aa 00'), 'x'))).toMatch(/1 trailing bytes/);
    expect(asn1(hex('04 01 aa 00')).error).toBe('trailing bytes');
  });

  it('non-minimal lengths are read, as asn1js reads them (DER wants the shortest form)', () => {
    for (const text of ['04 81 01 aa', '04 82 00 01 aa', '04 84 00 00 00 01 aa']) {
      const tlv = readDer(hex(text), 'x');
      expect(contentOf(tlv)).toEqual(hex('aa'));
      expect(header(tlv)).toEqual(asn1Header(asn1(hex(text)).element as asn1js.AsnType));
    }
  });
});

describe('indefinite lengths', () => {
  it('are refused on a primitive element, as asn1js refuses them', () => {
    expect(malformed(() => readDer(hex('04 80 aa 00 00'), 'x'))).toMatch(/primitive/);
    expect(asn1(hex('04 80 aa 00 00')).error).toMatch(/primitive/);
  });

  it('are read on a constructed element, up to its end-of-contents (BER, as asn1js)', () => {
    const bytes = hex('30 80 04 01 aa 30 80 00 00 00 00');
    const tlv = readDer(bytes, 'x');
    expect({ content: [tlv.contentStart, tlv.contentEnd], end: tlv.end }).toEqual({
      content: [2, 9],
      end: 11,
    });
    expect(childrenOf(tlv, 'x').map(header)).toEqual([
      { tagClass: 0, constructed: false, tagNumber: 4, contentLength: 1, encodedLength: 3 },
      { tagClass: 0, constructed: true, tagNumber: 16, contentLength: 0, encodedLength: 4 },
    ]);
    expect(header(tlv)).toEqual(asn1Header(asn1(bytes).element as asn1js.AsnType));
  });

  it('without their end-of-contents are truncated', () => {
    for (const text of ['30 80 04 01 aa', '30 80 04 01 aa 00', '30 80 30 80 00 00']) {
      expect(malformed(() => readDer(hex(text), 'x'))).toMatch(/truncated/);
      expect(asn1(hex(text)).error).toBeTruthy();
    }
    // Even with no content at all, where asn1js takes the input's end for one.
    expect(malformed(() => readDer(hex('30 80'), 'x'))).toMatch(/truncated/);
    expect(asn1(hex('30 80')).element).toBeDefined();
  });

  it('nest 65 levels deep at most, so hostile input cannot exhaust the stack', () => {
    const nested = (levels: number) =>
      concatBytes([hex('30 80'.repeat(levels)), new Uint8Array(2 * levels)]);
    expect(readDer(nested(65), 'x').end).toBe(4 * 65);
    expect(malformed(() => readDer(nested(66), 'x'))).toMatch(/nested more than 64 levels/);
    expect(malformed(() => readDer(nested(100_000), 'x'))).toMatch(/nested more than 64/);
  });
});

describe('constructed OCTET STRINGs', () => {
  it('are their segments concatenated, in either length form', () => {
    for (const text of ['24 80 04 01 aa 04 02 bb cc 00 00', '24 07 04 01 aa 04 02 bb cc']) {
      expect(octetStringValue(readDer(hex(text), 'x'), 'x')).toEqual(hex('aa bb cc'));
    }
  });

  it('nest 65 levels deep at most (deeper overflowed the stack with a RangeError)', () => {
    const nested = (levels: number) => {
      let bytes = hex('04 01 aa');
      for (let i = 0; i < levels; i++) bytes = element(0x24, bytes);
      return readDer(bytes, 'x');
    };
    expect(octetStringValue(nested(65), 'x')).toEqual(hex('aa'));
    expect(malformed(() => octetStringValue(nested(66), 'x'))).toMatch(/nested more than 64/);
    expect(malformed(() => octetStringValue(nested(20_000), 'x'))).toMatch(/nested/);
  });
});

describe('OBJECT IDENTIFIERs', () => {
  /** The content octets of an OID: base-128 subidentifiers, the first two arcs packed. */
  function oidContent(arcs: bigint[]): Uint8Array {
    const [first = 0n, second = 0n, ...rest] = arcs;
    const out: number[] = [];
    for (let arc of [first * 40n + second, ...rest]) {
      const groups = [Number(arc & 0x7fn)];
      for (arc >>= 7n; arc > 0n; arc >>= 7n) groups.unshift(Number(arc & 0x7fn) | 0x80);
      out.push(...groups);
    }
    return Uint8Array.from(out);
  }
  const read = (content: Uint8Array) => oidOf(readDer(element(0x06, content), 'x'), 'x');

  it('are read in dotted form, as asn1js reads them', () => {
    for (const dotted of ['1.2.840.113549.1.9.16.1.4', '2.16.840.1.101.3.4.2.1', '2.999.3']) {
      const bytes = element(0x06, oidContent(dotted.split('.').map(BigInt)));
      expect(oidOf(readDer(bytes, 'x'), 'x')).toBe(dotted);
      expect((asn1(bytes).element as asn1js.ObjectIdentifier).getValue()).toBe(dotted);
    }
  });

  it('with a 128-bit arc (a UUID under 2.25), in decimal (asn1js writes such an arc in hex)', () => {
    const dotted = '2.25.329800735698586629295641978511506172918';
    expect(read(oidContent(dotted.split('.').map(BigInt)))).toBe(dotted);
  });

  it('of 128 content bytes are read; longer ones are refused (asn1js takes them)', () => {
    const arcs = (count: number) => [1n, 2n, ...Array.from({ length: count }, () => 5n)];
    expect(oidContent(arcs(127))).toHaveLength(128);
    expect(read(oidContent(arcs(127)))).toBe(`1.2${'.5'.repeat(127)}`);
    const longer = element(0x06, oidContent(arcs(128)));
    expect(malformed(() => oidOf(readDer(longer, 'x'), 'x'))).toMatch(/longer than 128 bytes/);
    expect(asn1(longer).element).toBeDefined();
  });

  it('a hostile 100 KB one is refused by its length, before any arc is read', () => {
    const content = new Uint8Array(100_000).fill(0xff);
    content[content.length - 1] = 0x7f;
    expect(malformed(() => read(content))).toMatch(/longer than 128 bytes/);
  });
});

describe('a real TimeStampToken (the committed OpenSSL one)', () => {
  /** Every element, depth first, descending into constructed ones only. */
  function elements(tlv: Tlv): Tlv[] {
    return [tlv, ...(tlv.constructed ? childrenOf(tlv, 'x').flatMap(elements) : [])];
  }

  function asn1Elements(node: asn1js.AsnType): asn1js.AsnType[] {
    const block = node as asn1js.BaseBlock<asn1js.ValueBlock>;
    if (!block.idBlock.isConstructed) return [node];
    const children = (block.valueBlock as unknown as { value: asn1js.AsnType[] }).value;
    return [node, ...children.flatMap(asn1Elements)];
  }

  const sameElement = (a: Tlv, b: Tlv) => a.start === b.start && a.end === b.end;
  /** The element without its last byte, its header unchanged: it now overruns by one. */
  const shorter = (tlv: Tlv) => encodingOf(tlv).slice(0, -1);

  it('reads every element as asn1js does, with views into the token', () => {
    const ours = elements(readDer(token, 'token'));
    const theirs = asn1Elements(asn1(token).element as asn1js.AsnType);
    expect(ours.length).toBeGreaterThan(50);
    expect(ours.map(header)).toEqual(theirs.map(asn1Header));
    for (const tlv of ours) {
      expect(encodingOf(tlv).buffer).toBe(token.buffer);
      expect(encodingOf(tlv)).toEqual(
        new Uint8Array((theirs[ours.indexOf(tlv)] as asn1js.AsnType).valueBeforeDecodeView),
      );
    }
  });

  it('is malformed cut at every byte, as asn1js says', () => {
    expect(parseToken(token).tstInfo.policy).toBe('1.3.6.1.4.1.99999.1');
    for (let cut = 0; cut < token.length; cut++) {
      const prefix = token.slice(0, cut);
      expect({ cut, message: malformed(() => parseToken(prefix)) }).toMatchObject({ cut });
      expect({ cut, error: Boolean(asn1(prefix).error) }).toEqual({ cut, error: true });
    }
  });

  it('is malformed when the last element of any parent loses a byte, lengths around re-encoded', () => {
    const root = readDer(token, 'token');
    const lastChildren = elements(root)
      .filter((tlv) => tlv.constructed && tlv.contentEnd > tlv.contentStart)
      .map((parent) => childrenOf(parent, 'x').at(-1) as Tlv)
      .filter((tlv) => tlv.end > tlv.contentStart);
    expect(lastChildren.length).toBeGreaterThan(30);
    for (const cut of lastChildren) {
      const shortened = rebuild(root, (tlv) => (sameElement(tlv, cut) ? shorter(tlv) : undefined));
      expect(shortened.length).toBe(token.length - 1);
      const message = malformed(() => parseToken(shortened));
      expect({ at: cut.start, message }).toMatchObject({ at: cut.start });
    }
  });

  it('does not verify when any one element loses a byte, lengths around re-encoded', async () => {
    // Elsewhere than at a parent's end the next element's bytes shift in and may still read
    // as well-formed BER; the certificates are read by pkijs. Verification catches them all.
    const anchors = parsePemCertificates(
      readFileSync(join(fixtures, 'openssl-tsa-ca.pem'), 'utf8'),
    );
    const imprint = hex(readFileSync(join(fixtures, 'openssl-tsa-imprint.hex'), 'utf8'));
    const expectation = { imprint, trustAnchors: anchors };
    const verified = await verifyTimestampToken(token, expectation);
    expect(verified.policy).toBe('1.3.6.1.4.1.99999.1');
    const root = readDer(token, 'token');
    const all = elements(root).filter((tlv) => tlv !== root && tlv.end > tlv.contentStart);
    for (const cut of all) {
      const shortened = rebuild(root, (tlv) => (sameElement(tlv, cut) ? shorter(tlv) : undefined));
      const error = await rejection(verifyTimestampToken(shortened, expectation));
      expect({ at: cut.start, code: error.code }).toMatchObject({ at: cut.start });
    }
  });

  it('with a 100 KB contentType OID is malformed, by its length (reading it took over a second)', async () => {
    const root = readDer(token, 'token');
    const contentType = childrenOf(root, 'x')[0] as Tlv;
    const content = new Uint8Array(100_000).fill(0xff);
    content[content.length - 1] = 0x7f;
    const hostile = rebuild(root, (tlv) =>
      tlv.start === contentType.start ? element(0x06, content) : undefined,
    );
    const error = await rejection(
      verifyTimestampToken(hostile, { imprint: new Uint8Array(32), trustAnchors: [] }),
    );
    expect(error).toMatchObject({
      code: 'malformed',
      message: expect.stringMatching(/contentType is an OBJECT IDENTIFIER longer than 128 bytes/),
    });
  });

  it('with its eContent nested 5,000 constructed OCTET STRINGs deep is malformed, not a crash', async () => {
    const root = readDer(token, 'token');
    // ContentInfo.content [0] → SignedData → encapContentInfo → eContent [0] → OCTET STRING
    const child = (tlv: Tlv | undefined, i: number) => childrenOf(tlv as Tlv, 'x')[i];
    const octets = child(child(child(child(child(root, 1), 0), 2), 1), 0) as Tlv;
    expect(header(octets)).toMatchObject({ tagClass: 0, tagNumber: 4, constructed: false });
    let deep = encodingOf(octets);
    for (let i = 0; i < 5_000; i++) deep = element(0x24, deep);
    const hostile = rebuild(root, (tlv) => (tlv.start === octets.start ? deep : undefined));
    const error = await rejection(
      verifyTimestampToken(hostile, { imprint: new Uint8Array(32), trustAnchors: [] }),
    );
    expect(error.code).toBe('malformed');
  });
});

import { concatBytes } from '@quittance/format';
import { TspError } from './errors';

// A small BER reader for the parts of a TimeStampResp/TimeStampToken that change with every
// token. asn1js allocates several objects per element and pkijs rebuilds and compares a whole
// schema tree on every parse: together some ten times the cost of the signature check.
// Certificates are still parsed by pkijs, once per distinct certificate (certs.ts).

/** Universal tag numbers used by RFC 3161 and CMS. */
export const TAG = {
  boolean: 1,
  integer: 2,
  bitString: 3,
  octetString: 4,
  oid: 6,
  utf8String: 12,
  sequence: 16,
  set: 17,
  generalizedTime: 24,
} as const;

export const UNIVERSAL = 0;
export const CONTEXT = 2;

// Deep enough for any certificate or CMS structure; stops hostile input from exhausting the stack
// through nested indefinite lengths.
const MAX_DEPTH = 64;

/** One BER element: its tag and where its header, content and end sit in `bytes`. */
export interface Tlv {
  bytes: Uint8Array;
  /** 0 universal, 1 application, 2 context-specific, 3 private. */
  tagClass: number;
  constructed: boolean;
  tagNumber: number;
  start: number;
  contentStart: number;
  /** Where the content ends: before the end-of-contents octets for an indefinite length. */
  contentEnd: number;
  end: number;
}

const malformed = (message: string) => new TspError('malformed', message);

/**
 * Reads the single element that must span all of `bytes`: trailing bytes after a token would
 * otherwise be carried along unverified. Only the outer element is read; the parsers read each
 * field they use, and {@link assertWellFormed} checks the parts they skip.
 */
export function readDer(bytes: Uint8Array, what: string): Tlv {
  const tlv = readTlv(bytes, 0, bytes.length, what, 0);
  if (tlv.end !== bytes.length) {
    throw malformed(`${what} has ${bytes.length - tlv.end} trailing bytes after the DER element`);
  }
  return tlv;
}

/**
 * Checks every constructed element inside `tlv` is a well-formed run of elements, as asn1js
 * did for a whole token, for the parts no parser reads field by field.
 */
export function assertWellFormed(tlv: Tlv, what: string, depth = 0): void {
  if (!tlv.constructed) return;
  if (depth > MAX_DEPTH) throw malformed(`${what} is nested more than ${MAX_DEPTH} levels deep`);
  for (let pos = tlv.contentStart; pos < tlv.contentEnd; ) {
    const child = readTlv(tlv.bytes, pos, tlv.contentEnd, what, depth + 1);
    assertWellFormed(child, what, depth + 1);
    pos = child.end;
  }
}

function truncated(what: string): TspError {
  return malformed(`${what} is not valid DER: truncated element`);
}

// Hot: runs for every element of every token, so no closures (tsx names each one it creates).
function readTlv(bytes: Uint8Array, offset: number, limit: number, what: string, depth: number) {
  if (depth > MAX_DEPTH) throw malformed(`${what} is nested more than ${MAX_DEPTH} levels deep`);
  let pos = offset;
  if (pos >= limit) throw truncated(what);
  const first = bytes[pos++] as number;
  const constructed = (first & 0x20) !== 0;
  let tagNumber = first & 0x1f;
  if (tagNumber === 0x1f) {
    // High tag number form: base-128, at most four bytes, no leading zero group.
    tagNumber = 0;
    for (let i = 0; ; i++) {
      if (pos >= limit) throw truncated(what);
      const byte = bytes[pos++] as number;
      if ((i === 0 && byte === 0x80) || i === 4) throw malformed(`${what} has a bad tag number`);
      tagNumber = tagNumber * 128 + (byte & 0x7f);
      if ((byte & 0x80) === 0) break;
    }
  }
  if (pos >= limit) throw truncated(what);
  const lengthByte = bytes[pos++] as number;
  let contentEnd: number;
  let end: number;
  if (lengthByte === 0x80) {
    // Indefinite length (BER, e.g. streaming CMS encoders): children up to end-of-contents.
    if (!constructed) throw malformed(`${what} has an indefinite length on a primitive element`);
    let child = pos;
    while (!(child + 2 <= limit && bytes[child] === 0 && bytes[child + 1] === 0)) {
      child = readTlv(bytes, child, limit, what, depth + 1).end;
    }
    contentEnd = child;
    end = child + 2;
  } else {
    let length = lengthByte;
    if (lengthByte > 0x80) {
      const count = lengthByte & 0x7f;
      if (count > 4) throw malformed(`${what} has an element longer than 4 GiB`);
      length = 0;
      for (let i = 0; i < count; i++) {
        if (pos >= limit) throw truncated(what);
        length = length * 256 + (bytes[pos++] as number);
      }
    }
    if (pos + length > limit) throw truncated(what);
    contentEnd = pos + length;
    end = contentEnd;
  }
  const tlv: Tlv = {
    bytes,
    tagClass: first >> 6,
    constructed,
    tagNumber,
    start: offset,
    contentStart: pos,
    contentEnd,
    end,
  };
  return tlv;
}

/** The elements inside a constructed element, in order. */
export function childrenOf(tlv: Tlv, what: string): Tlv[] {
  if (!tlv.constructed) throw malformed(`${what} is not a constructed element`);
  const out: Tlv[] = [];
  for (let pos = tlv.contentStart; pos < tlv.contentEnd; ) {
    const child = readTlv(tlv.bytes, pos, tlv.contentEnd, what, 0);
    out.push(child);
    pos = child.end;
  }
  return out;
}

/** Whether `tlv` is present and has this universal tag. */
export function isUniversal(tlv: Tlv | undefined, tagNumber: number): tlv is Tlv {
  return tlv !== undefined && tlv.tagClass === UNIVERSAL && tlv.tagNumber === tagNumber;
}

/** Whether `tlv` is present and has this context-specific tag (`[n]`). */
export function isContext(tlv: Tlv | undefined, tagNumber: number): tlv is Tlv {
  return tlv !== undefined && tlv.tagClass === CONTEXT && tlv.tagNumber === tagNumber;
}

/** The content octets (a view, not a copy). */
export function contentOf(tlv: Tlv): Uint8Array {
  return tlv.bytes.subarray(tlv.contentStart, tlv.contentEnd);
}

/** The whole encoding, header included (a view, not a copy). */
export function encodingOf(tlv: Tlv): Uint8Array {
  return tlv.bytes.subarray(tlv.start, tlv.end);
}

/**
 * Walks the fields of a SEQUENCE in order, the way an ASN.1 schema does: required fields,
 * optional ones recognised by their tag, and nothing left over at the end.
 */
export class Fields {
  readonly #items: Tlv[];
  readonly #what: string;
  #next = 0;

  constructor(items: Tlv[], what: string) {
    this.#items = items;
    this.#what = what;
  }

  /** The fields of `tlv`, which must be a constructed SEQUENCE (or SET). */
  static of(tlv: Tlv | undefined, what: string, tagNumber: number = TAG.sequence): Fields {
    if (!isUniversal(tlv, tagNumber) || !tlv.constructed) {
      throw malformed(`${what} is not a ${tagNumber === TAG.set ? 'SET' : 'SEQUENCE'}`);
    }
    return new Fields(childrenOf(tlv, what), what);
  }

  /** The next field, which must be present. */
  next(field: string): Tlv {
    const tlv = this.#items[this.#next];
    if (!tlv) throw malformed(`${this.#what}.${field} is missing`);
    this.#next++;
    return tlv;
  }

  /** The next field when it has this tag, else undefined (and nothing is consumed). */
  optional(tagNumber: number, tagClass: number = UNIVERSAL): Tlv | undefined {
    const tlv = this.#items[this.#next];
    if (tlv === undefined || tlv.tagClass !== tagClass || tlv.tagNumber !== tagNumber) {
      return undefined;
    }
    this.#next++;
    return tlv;
  }

  /** The next field whatever its tag (`ANY OPTIONAL`), if there is one. */
  any(): Tlv | undefined {
    return this.#items[this.#next++];
  }

  /** Asserts every field was read. */
  end(): void {
    const left = this.#items.length - this.#next;
    if (left > 0) throw malformed(`${this.#what} has ${left} unexpected trailing fields`);
  }
}

type Fail = (message: string) => TspError;

function primitive(
  tlv: Tlv | undefined,
  tagNumber: number,
  what: string,
  fail: Fail,
  type: string,
): Uint8Array {
  if (!isUniversal(tlv, tagNumber) || tlv.constructed) throw fail(`${what} is not ${type}`);
  return contentOf(tlv);
}

/** The content of an INTEGER: two's complement, big-endian. */
export function integerOf(tlv: Tlv | undefined, what: string, fail: Fail = malformed): Uint8Array {
  const bytes = primitive(tlv, TAG.integer, what, fail, 'an INTEGER');
  if (bytes.length === 0) throw fail(`${what} is an empty INTEGER`);
  return bytes;
}

/** The content of a primitive OCTET STRING. */
export function octetsOf(tlv: Tlv | undefined, what: string, fail: Fail = malformed): Uint8Array {
  return primitive(tlv, TAG.octetString, what, fail, 'an OCTET STRING');
}

/** An OCTET STRING's value, also in the BER constructed form (segments concatenated). */
export function octetStringValue(tlv: Tlv | undefined, what: string, depth = 0): Uint8Array {
  if (!isUniversal(tlv, TAG.octetString)) throw malformed(`${what} is not an OCTET STRING`);
  if (!tlv.constructed) return contentOf(tlv);
  // Segments may nest; unbounded, a few kilobytes of nesting overflowed the stack (RangeError).
  if (depth > MAX_DEPTH) throw malformed(`${what} is nested more than ${MAX_DEPTH} levels deep`);
  return concatBytes(childrenOf(tlv, what).map((part) => octetStringValue(part, what, depth + 1)));
}

/** A BOOLEAN's value (BER: any non-zero byte is true). */
export function booleanOf(tlv: Tlv | undefined, what: string): boolean {
  const bytes = primitive(tlv, TAG.boolean, what, malformed, 'a BOOLEAN');
  if (bytes.length !== 1) throw malformed(`${what} is not a one-byte BOOLEAN`);
  return bytes[0] !== 0;
}

// Real OIDs take a few dozen content bytes at most (a UUID arc under 2.25 takes 19); a hostile
// 300 KB one took 50 s (a BigInt shifted and converted per byte).
const MAX_OID_BYTES = 128;

/** An OBJECT IDENTIFIER in dotted form. */
export function oidOf(tlv: Tlv | undefined, what: string, fail: Fail = malformed): string {
  const bytes = primitive(tlv, TAG.oid, what, fail, 'an OBJECT IDENTIFIER');
  if (bytes.length > MAX_OID_BYTES) {
    throw fail(`${what} is an OBJECT IDENTIFIER longer than ${MAX_OID_BYTES} bytes`);
  }
  if (bytes.length === 0 || ((bytes[bytes.length - 1] as number) & 0x80) !== 0) {
    throw fail(`${what} is not a valid OBJECT IDENTIFIER`);
  }
  const arcs: (number | bigint)[] = [];
  let value = 0;
  let big: bigint | undefined;
  let atStart = true;
  for (const byte of bytes) {
    // X.690 8.19.2: a subidentifier is minimal, so it never starts with 0x80.
    if (atStart && byte === 0x80) throw fail(`${what} is not a valid OBJECT IDENTIFIER`);
    atStart = false;
    if (big === undefined && value < 2 ** 45) value = value * 128 + (byte & 0x7f);
    else big = ((big ?? BigInt(value)) << 7n) | BigInt(byte & 0x7f);
    if ((byte & 0x80) !== 0) continue;
    arcs.push(big ?? value);
    value = 0;
    big = undefined;
    atStart = true;
  }
  // The first subidentifier packs the first two arcs as 40 * first + second.
  const head = arcs[0] as number | bigint;
  const first = head < 40 ? 0 : head < 80 ? 1 : 2;
  const second = typeof head === 'bigint' ? head - BigInt(first * 40) : head - first * 40;
  return [first, second, ...arcs.slice(1)].join('.');
}

const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d+))?Z$/;

/**
 * A GeneralizedTime in the form RFC 3161 §2.4.2 and DER require: UTC (`Z`), seconds present,
 * optional fraction of a second (kept to the millisecond, truncated).
 */
export function generalizedTimeOf(tlv: Tlv | undefined, what: string): Date {
  const bytes = primitive(tlv, TAG.generalizedTime, what, malformed, 'a GeneralizedTime');
  // The longest valid form is about 30 characters; a longer one is refused unread (and a
  // spread of a hostile megabyte would overflow the stack).
  const text = bytes.length <= 64 ? String.fromCharCode(...bytes) : `${bytes.length} bytes`;
  const match = GENERALIZED_TIME.exec(text);
  if (match) {
    const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const date = new Date(0);
    // setUTCFullYear, not Date.UTC, which reads years below 100 as 19xx.
    date.setUTCFullYear(year, month - 1, day);
    // A Date rolls 31 April over into 1 May: a day or month that changed was out of range.
    // Second 60 (a leap second) rolls over into the next minute, as asn1js did.
    if (
      date.getUTCMonth() === month - 1 &&
      date.getUTCDate() === day &&
      hour <= 23 &&
      minute <= 59 &&
      second <= 60
    ) {
      date.setUTCHours(hour, minute, second, Number(`${match[7] ?? ''}000`.slice(0, 3)));
      return date;
    }
  }
  throw malformed(`${what} '${text}' is not a UTC GeneralizedTime`);
}

/** A BIT STRING's bits, most significant first, without the unused trailing bits. */
export function bitsOf(tlv: Tlv | undefined, what: string): boolean[] {
  const bytes = primitive(tlv, TAG.bitString, what, malformed, 'a BIT STRING');
  const unused = bytes[0];
  if (unused === undefined || unused > 7 || (bytes.length === 1 && unused !== 0)) {
    throw malformed(`${what} is not a valid BIT STRING`);
  }
  const bits: boolean[] = [];
  for (let i = 0; i < (bytes.length - 1) * 8 - unused; i++) {
    bits.push(((bytes[1 + (i >> 3)] as number) & (0x80 >> (i & 7))) !== 0);
  }
  return bits;
}

/** A two's complement INTEGER content as a bigint. */
export function toBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  if (bytes.length > 0 && ((bytes[0] as number) & 0x80) !== 0) {
    value -= 1n << BigInt(bytes.length * 8);
  }
  return value;
}

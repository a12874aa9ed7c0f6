import type { FieldIssue } from './errors';

/** Field rules of SPEC §1 and §8, shared by the validators here and by the API's schemas. */
export const IDENTIFIER_PATTERN = /^[A-Za-z0-9._:~-]{1,128}$/;
export const IDENTIFIER_MAX_LENGTH = 128;
export const NONCE_PATTERN = /^[\x20-\x7e]{1,256}$/;
export const NONCE_MAX_LENGTH = 256;
export const HASH_PATTERN = /^[0-9a-f]{64}$/;
export const RECEIPT_ID_PATTERN = /^trcpt_[0-9A-HJKMNP-TV-Z]{26}$/;
/** RFC 3339, UTC, exactly millisecond precision, `Z`. */
export const TIMESTAMP_MS_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** `<merchantId>-<YYYY>Q<n>`, with `-<k>` for an extra rotation in a quarter (SPEC §5). */
export const KID_PATTERN = /^([A-Za-z0-9._:~-]{1,128})-(\d{4})Q([1-4])(?:-([1-9]\d{0,5}))?$/;
export const DETACHED_JWS_PATTERN = /^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+$/;
export const OID_PATTERN = /^[0-2](?:\.(?:0|[1-9]\d*))+$/;

/**
 * A whole number as text that carries numbers should write it (query strings, the
 * environment): decimal digits only. Number() would also read "0x10", "1e3", " 7" and the
 * empty string as numbers, which nobody means.
 */
export const DECIMAL_INTEGER_PATTERN = /^[0-9]{1,16}$/;

/** `text` as a whole number in min..max, written in decimal digits only; undefined otherwise. */
export function decimalIntegerIn(text: string, min: number, max: number): number | undefined {
  if (!DECIMAL_INTEGER_PATTERN.test(text)) return undefined;
  const value = Number(text);
  return value >= min && value <= max ? value : undefined;
}
/** The longest a JavaScript timer waits (2^31 - 1 ms); a longer delay fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The members of an issue request (SPEC §8), in the order the API documents them. */
export const ISSUE_REQUEST_MEMBERS = [
  'callId',
  'agentId',
  'bucket',
  'tool',
  'orderId',
  'nonce',
  'trust_provider_assertions',
  'input',
  'output',
  'inputHash',
  'outputHash',
] as const;
export type IssueRequestMember = (typeof ISSUE_REQUEST_MEMBERS)[number];
/** The most trust-provider assertions one issue request may carry. */
export const MAX_ASSERTIONS = 64;

/**
 * SPEC §8: an issue request carries the bodies (`input` and `output`, any JSON) or their
 * hashes (`inputHash` and `outputHash`): both members of one pair, never members of both.
 * The issues of a request that breaks this, given which members it has.
 */
export function issueRequestContentIssues(
  has: (member: IssueRequestMember) => boolean,
): FieldIssue[] {
  const bodies = has('input') || has('output');
  const hashes = has('inputHash') || has('outputHash');
  if (bodies && hashes) {
    return [
      {
        path: '',
        code: 'conflict',
        message: 'send input and output, or inputHash and outputHash, not both',
      },
    ];
  }
  if (!bodies && !hashes) {
    return [
      {
        path: '',
        code: 'required',
        message: 'input and output, or inputHash and outputHash, are required',
      },
    ];
  }
  const pair = bodies ? (['input', 'output'] as const) : (['inputHash', 'outputHash'] as const);
  return pair
    .filter((member) => !has(member))
    .map((member) => ({ path: `/${member}`, code: 'required', message: `${member} is required` }));
}

export function isIdentifier(value: unknown): value is string {
  return typeof value === 'string' && IDENTIFIER_PATTERN.test(value);
}

export function isHash(value: unknown): value is string {
  return typeof value === 'string' && HASH_PATTERN.test(value);
}

/** True for an RFC 3339 UTC time with millisecond precision that names a real instant. */
export function isTimestampMs(value: unknown): value is string {
  if (typeof value !== 'string' || !TIMESTAMP_MS_PATTERN.test(value)) return false;
  // Years 0001-9999 only (RFC 3339 §5.6); the round trip rejects day 30 of February, hour 24.
  if (value.startsWith('0000')) return false;
  const time = Date.parse(value);
  return Number.isFinite(time) && new Date(time).toISOString() === value;
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
/** 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z in milliseconds. */
const FIRST_INSTANT = -62_135_596_800_000;
const AFTER_LAST_INSTANT = 253_402_300_800_000;

/**
 * True for an RFC 3339 date-time of any precision (up to nanoseconds) with `Z` or a numeric
 * offset that names a real instant: years 0001-9999, months 01-12, the day within its month
 * (29 February in leap years only), hours 00-23, minutes 00-59, seconds 00-59 (no leap
 * second `60`: neither JavaScript nor PostgreSQL can represent one), offsets up to ±23:59,
 * and the instant itself, in UTC, between 0001-01-01 and 9999-12-31. `T` and `Z` in either
 * case (RFC 3339 §5.6's note). Nothing is normalized: `2026-02-30` or `T24:00:00` are
 * refused, not rolled over.
 */
export function isRfc3339(value: unknown): value is string {
  return rfc3339Millis(value) !== undefined;
}

/**
 * The instant of an RFC 3339 date-time ({@link isRfc3339}) in milliseconds since the epoch,
 * finer fractions cut off; undefined for anything else.
 */
export function rfc3339Millis(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    return undefined;
  }
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (m[8] !== undefined) {
    const offsetHours = Number(m[9]);
    const offsetMins = Number(m[10]);
    if (offsetHours > 23 || offsetMins > 59) return undefined;
    offsetMinutes = (m[8] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  // Computed, not Date.parse'd: engines differ on fractions finer than milliseconds.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(
    hour,
    minute - offsetMinutes,
    second,
    Number((m[7] ?? '').padEnd(3, '0').slice(0, 3)),
  );
  const time = date.getTime();
  return time >= FIRST_INSTANT && time < AFTER_LAST_INSTANT ? time : undefined;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

export function isAbsoluteHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

/** Millisecond-precision UTC text of a time, the only form `createdAt` takes. */
export function toTimestampMs(time: Date | number): string {
  return new Date(time).toISOString();
}

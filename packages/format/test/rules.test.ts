import { describe, expect, it } from 'vitest';
import { isRfc3339, isTimestampMs, rfc3339Millis } from '../src';

describe('isRfc3339: real instants only, nothing normalized', () => {
  it.each([
    '2026-11-20T10:15:30Z',
    '2026-11-20T10:15:30.1Z',
    '2026-11-20T10:15:30.123456789Z',
    '2024-02-29T00:00:00Z',
    '2000-02-29T23:59:59+14:00',
    '2026-01-31T00:00:00-23:59',
    '2026-06-30T23:59:59-00:00',
    '0001-01-01T00:00:00Z',
    '0001-01-01T00:30:00+00:30',
    '9999-12-31T23:59:59.999999999Z',
    '9999-12-31T23:59:59+01:00',
    // RFC 3339 §5.6's note: T and Z may be lower case.
    '2026-01-01t00:00:00z',
    '2026-01-01t00:00:00.5+01:00',
  ])('accepts %s', (value) => {
    expect(isRfc3339(value)).toBe(true);
  });

  it.each([
    ['year 0000', '0000-01-01T00:00:00Z'],
    ['30 February', '2026-02-30T00:00:00Z'],
    ['29 February of a common year', '2025-02-29T00:00:00Z'],
    ['29 February 1900 (divisible by 100)', '1900-02-29T00:00:00Z'],
    ['31 April', '2026-04-31T00:00:00Z'],
    ['31 June', '2026-06-31T00:00:00Z'],
    ['32 January', '2026-01-32T00:00:00Z'],
    ['day 00', '2026-01-00T00:00:00Z'],
    ['month 00', '2026-00-01T00:00:00Z'],
    ['month 13', '2026-13-01T00:00:00Z'],
    ['hour 24', '2026-01-01T24:00:00Z'],
    ['minute 60', '2026-01-01T23:60:00Z'],
    ['leap second 60', '2016-12-31T23:59:60Z'],
    ['offset hour 24', '2026-01-01T00:00:00+24:00'],
    ['offset minute 60', '2026-01-01T00:00:00+01:60'],
    ['before 0001-01-01 in UTC', '0001-01-01T00:00:00+00:01'],
    ['after 9999-12-31 in UTC', '9999-12-31T23:59:59-00:01'],
    ['no offset', '2026-01-01T00:00:00'],
    ['a space for T', '2026-01-01 00:00:00Z'],
    ['a lower-case letter other than t or z', '2026-01-01x00:00:00Z'],
    ['ten fraction digits', '2026-01-01T00:00:00.1234567890Z'],
    ['an empty fraction', '2026-01-01T00:00:00.Z'],
    ['a five-digit year', '+02026-01-01T00:00:00Z'],
    ['offset without colon', '2026-01-01T00:00:00+0100'],
    ['a date only', '2026-01-01'],
    ['a trailing newline', '2026-01-01T00:00:00Z\n'],
    ['full-width digits', '２０２６-01-01T00:00:00Z'],
  ])('refuses %s: %s', (_name, value) => {
    expect(isRfc3339(value)).toBe(false);
  });

  it('refuses what is not a string', () => {
    expect(isRfc3339(undefined)).toBe(false);
    expect(isRfc3339(Date.now())).toBe(false);
    expect(isRfc3339(new Date())).toBe(false);
  });

  it('agrees with Date.parse on the instant of what it accepts', () => {
    const value = '2000-02-29T12:00:00.123456789+05:30';
    expect(isRfc3339(value)).toBe(true);
    expect(new Date(Date.parse(value)).toISOString()).toBe('2000-02-29T06:30:00.123Z');
    expect(rfc3339Millis(value)).toBe(Date.parse('2000-02-29T06:30:00.123Z'));
    expect(rfc3339Millis('2026-01-01t00:00:00z')).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(rfc3339Millis('2026-02-30T00:00:00Z')).toBeUndefined();
  });
});

describe('isTimestampMs', () => {
  it.each(['2026-11-20T10:15:30.123Z', '0001-01-01T00:00:00.000Z', '2024-02-29T23:59:59.999Z'])(
    'accepts %s',
    (value) => {
      expect(isTimestampMs(value)).toBe(true);
    },
  );

  it.each([
    '0000-01-01T00:00:00.000Z',
    '2026-02-30T00:00:00.000Z',
    '2026-01-01T24:00:00.000Z',
    '2026-01-01T00:00:00Z',
    '2026-01-01T00:00:00.000+00:00',
  ])('refuses %s', (value) => {
    expect(isTimestampMs(value)).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { retryAfterMs } from '../src/errors';

describe('Retry-After (RFC 9110 §10.2.3)', () => {
  const now = Date.parse('2026-12-07T12:00:00Z');
  it.each([
    ['1', 1000],
    [' 30 ', 30_000],
    ['0', 0],
    ['Mon, 07 Dec 2026 12:00:05 GMT', 5000],
    ['Mon, 07 Dec 2026 11:59:00 GMT', 0],
    ['soon', undefined],
    ['-1', undefined],
    ['1.5', undefined],
  ])('%j is %s ms', (value, ms) => {
    expect(retryAfterMs(value, now)).toBe(ms);
  });
  it('is undefined without the header', () => expect(retryAfterMs(null)).toBeUndefined());
});

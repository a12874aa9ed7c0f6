import { describe, expect, it } from 'vitest';
import { maxAgeMs } from '../src/cache-control';

describe('Cache-Control max-age (RFC 9111 §5.2.2.1)', () => {
  it.each([
    ['public, max-age=60', 60_000],
    ['max-age=0', 0],
    ['public, max-age=31536000, immutable', 86_400_000],
    ['MAX-AGE = "5"', 5000],
    ['public, max-age=60, no-cache', 0],
    ['no-store, max-age=60', 0],
    ['public', 0],
    ['max-age=-1', 0],
    ['max-age=1.5', 0],
    ['s-maxage=60', 0],
  ])('%j keeps for %s ms', (value, ms) => {
    expect(maxAgeMs(value)).toBe(ms);
  });
  it('keeps nothing without the header', () => expect(maxAgeMs(null)).toBe(0));
});

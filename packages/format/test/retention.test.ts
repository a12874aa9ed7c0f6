import { describe, expect, it } from 'vitest';
import { isJurisdiction, JURISDICTIONS, RETENTION_YEARS, retentionStart } from '../src';

describe('retention by jurisdiction (SPEC §9)', () => {
  it('is EU 6 years, US 7, BR 5, OTHER 10', () => {
    expect(JURISDICTIONS).toEqual(['EU', 'US', 'BR', 'OTHER']);
    expect(RETENTION_YEARS).toEqual({ EU: 6, US: 7, BR: 5, OTHER: 10 });
  });

  it('isJurisdiction takes the four codes only, as written', () => {
    for (const code of JURISDICTIONS) expect(isJurisdiction(code)).toBe(true);
    for (const other of ['eu', 'FR', '', 'toString', undefined, 6]) {
      expect(isJurisdiction(other)).toBe(false);
    }
  });

  it('the window starts the same instant, that many years back, in UTC', () => {
    const now = new Date('2032-06-15T10:00:00.000Z');
    expect(retentionStart(now, 'EU').toISOString()).toBe('2026-06-15T10:00:00.000Z');
    expect(retentionStart(now, 'US').toISOString()).toBe('2025-06-15T10:00:00.000Z');
    expect(retentionStart(now, 'BR').toISOString()).toBe('2027-06-15T10:00:00.000Z');
    expect(retentionStart(now, 'OTHER').toISOString()).toBe('2022-06-15T10:00:00.000Z');
    expect(now.toISOString()).toBe('2032-06-15T10:00:00.000Z');
  });

  it('29 February counts back to 1 March of a common year', () => {
    const leap = new Date('2032-02-29T12:00:00.000Z');
    expect(retentionStart(leap, 'BR').toISOString()).toBe('2027-03-01T12:00:00.000Z');
    expect(retentionStart(leap, 'OTHER').toISOString()).toBe('2022-03-01T12:00:00.000Z');
  });
});

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  isPeriod,
  periodOf,
  periodOfSnapshotFile,
  periodOfSnapshotUrl,
  snapshotUrlPath,
} from '../src';

// The SPEC's conformance receipts (a sibling of the checkout, never edited here).
const good = JSON.parse(
  readFileSync(
    resolve(import.meta.dirname, '../../../../shared/conformance/receipts/good.json'),
    'utf8',
  ),
) as { createdAt: string; jwksSnapshotUrl: string };

describe('snapshot periods (SPEC §5)', () => {
  it('the conformance receipt names the period of its createdAt', () => {
    expect(periodOf(good.createdAt)).toBe('2026-08');
    expect(periodOfSnapshotUrl(good.jwksSnapshotUrl)).toBe('2026-08');
  });

  it('periodOf is the UTC month, whatever the offset the time is written with', () => {
    expect(periodOf('2026-11-30T23:59:59.999Z')).toBe('2026-11');
    expect(periodOf('2026-12-01T00:30:00+01:00')).toBe('2026-11');
    expect(periodOf(new Date(Date.UTC(2027, 0, 1)))).toBe('2027-01');
  });

  it('isPeriod takes YYYY-MM with a real month only', () => {
    for (const ok of ['2026-01', '2026-12', '0001-09']) expect(isPeriod(ok)).toBe(true);
    for (const bad of ['2026-00', '2026-13', '2026-1', '26-01', '2026-01-01', ' 2026-01', 202601]) {
      expect(isPeriod(bad)).toBe(false);
    }
  });

  it('snapshot URLs and file names round-trip through the period', () => {
    expect(snapshotUrlPath('2026-11')).toBe('/.well-known/jwks/snapshot/2026-11.json');
    expect(periodOfSnapshotUrl(`https://q.example${snapshotUrlPath('2026-11')}`)).toBe('2026-11');
    expect(periodOfSnapshotFile('2026-11.json')).toBe('2026-11');
  });

  it('a snapshot file name is exactly YYYY-MM.json with a real month', () => {
    for (const bad of [
      '2026-13.json',
      '2026-11.json.bak',
      'x2026-11.json',
      '2026-11',
      'latest.json',
    ]) {
      expect(periodOfSnapshotFile(bad)).toBeUndefined();
    }
  });

  it('a URL names the YYYY-MM that ends it, or nothing', () => {
    expect(periodOfSnapshotUrl('https://q.example/keys.json')).toBeUndefined();
    expect(periodOfSnapshotUrl('https://q.example/2026-11.json?version=2')).toBeUndefined();
    // Not checked for a real month: the verifier compares it with createdAt's period.
    expect(periodOfSnapshotUrl('https://q.example/2026-13.json')).toBe('2026-13');
  });
});

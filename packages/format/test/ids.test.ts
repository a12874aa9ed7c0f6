import { describe, expect, it } from 'vitest';
import { newId, RECEIPT_ID_PATTERN, randomBytes, ulid } from '../src';

describe('ids and random bytes', () => {
  it('hands out every pooled byte once: 20,000 IV-sized draws, all distinct, across refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) seen.add(Buffer.from(randomBytes(12)).toString('hex'));
    expect(seen.size).toBe(20_000);
    expect(randomBytes(10_000).length).toBe(10_000);
  });

  it('makes receipt ids of the SPEC form that sort by time', () => {
    expect(newId('trcpt')).toMatch(RECEIPT_ID_PATTERN);
    expect(
      ulid(Date.parse('2026-01-01T00:00:00Z')) < ulid(Date.parse('2026-01-01T00:00:01Z')),
    ).toBe(true);
    expect(new Set(Array.from({ length: 1_000 }, () => newId('trcpt'))).size).toBe(1_000);
  });
});

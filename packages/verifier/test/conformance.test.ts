/**
 * The SPEC 1.1 conformance vectors without an inclusion proof (those with one are in
 * conformance-proofs.test.ts); see conformance-cases.ts for how each case is run.
 */
import { describe, expect, it } from 'vitest';
import { allCases, expectCase } from './conformance-cases';

const cases = allCases().filter(([, c]) => c.proof === undefined);

describe('SPEC 1.1 conformance vectors (receipts without a proof)', () => {
  it('has the vectors', () => {
    expect(cases.length).toBeGreaterThanOrEqual(22);
  });

  it.each(cases)('%s', async (name, c) => {
    const report = await expectCase(name, c);
    // Without a proof, inclusion is never decided (SPEC §10).
    expect(report.receipts[0]?.claims.included_in_log?.status).toBe('unknown');
  });
});

import type { Claim, ClaimStatus, ReceiptReport } from '@quittance/verifier';
import { describe, expect, it } from 'vitest';
import { ReportCollector, TextBlob } from '../src/page/report-collector';
import { SHOWN_RECEIPTS, type Verdict, verdictOf } from '../src/page/report-model';

const claim = (status: ClaimStatus, source: Claim['source'] = 'verifier_derived'): Claim => ({
  status,
  source,
  reason: `${status} here`,
});

/** Receipt i: every 7th has a refuted signature, every 5th an unknown timestamp. */
function reportOf(i: number): ReceiptReport {
  return {
    id: `r${i}`,
    claims: {
      signature_valid: claim(i % 7 === 0 ? 'refuted' : 'asserted'),
      timestamp_valid: claim(i % 5 === 0 ? 'unknown' : 'asserted', 'operator_asserted'),
    },
  } as unknown as ReceiptReport;
}

const RANK: Record<Verdict, number> = { FAIL: 0, 'NOT PROVEN': 1, PASS: 2 };

describe('ReportCollector (what the page keeps of a verification)', () => {
  it('keeps the failures-first list and the counts of every report without keeping them all', () => {
    const reports = Array.from({ length: 5 * SHOWN_RECEIPTS + 3 }, (_, i) => reportOf(i));
    const collector = new ReportCollector();
    for (const report of reports) collector.add(report);
    const bundleClaims = { manifest_valid: claim('asserted'), chain_complete: claim('refuted') };
    const summary = collector.summary(bundleClaims);

    // What sorting every report would give: failures, then the not proven, each in order.
    const sorted = reports
      .map((report, position) => ({
        report,
        verdict: verdictOf(Object.values(report.claims)),
        position,
      }))
      .sort((a, b) => RANK[a.verdict] - RANK[b.verdict]);
    expect(summary.shown).toEqual(sorted.slice(0, SHOWN_RECEIPTS));
    expect(summary.shown.filter((s) => s.verdict === 'FAIL')).toHaveLength(144);
    expect(summary.receiptCount).toBe(reports.length);

    const refuted = reports.filter((_, i) => i % 7 === 0).length;
    const unknown = reports.filter((_, i) => i % 5 === 0).length;
    expect(summary.statusCounts).toEqual({
      refuted: refuted + 1,
      unknown,
      asserted: 2 * reports.length - refuted - unknown + 1,
    });
    // The evidence's own claims come first, as the verdict lists them first.
    expect([...summary.tally.keys()]).toEqual([
      'manifest_valid',
      'chain_complete',
      'signature_valid',
      'timestamp_valid',
    ]);
    expect(summary.tally.get('chain_complete')).toEqual({
      bundle: bundleClaims.chain_complete,
      refuted: 0,
      unknown: 0,
      operatorAsserted: 0,
    });
    expect(summary.tally.get('signature_valid')).toMatchObject({ refuted, unknown: 0 });
    expect(summary.tally.get('timestamp_valid')).toEqual({
      refuted: 0,
      unknown,
      operatorAsserted: reports.length,
    });
  });

  it('gives each fact of a timeline its verdict, by position or else by id', () => {
    const collector = new ReportCollector();
    collector.trackVerdicts();
    // Positions 0-2; id r1 appears twice (hostile input), the second time failing.
    for (const report of [reportOf(1), reportOf(7), { ...reportOf(0), id: 'r1' }])
      collector.add(report);
    const fact = (id: string, index: number) => ({
      id,
      index,
      createdAt: '2026-01-01T00:00:00.000Z',
      agentId: 'a',
      tool: 't',
      bucket: 'b',
      orderId: 'o',
    });
    const rows = collector.timeline([fact('r1', 0), fact('r7', 5), fact('r9', 2), fact('r1', 9)]);
    expect(rows.map((r) => [r.id, r.verdict, r.shownPosition])).toEqual([
      ['r1', 'PASS', 0],
      ['r7', 'FAIL', 1],
      ['r9', undefined, undefined],
      ['r1', 'FAIL', 2],
    ]);
  });
});

describe('TextBlob', () => {
  it('gives back exactly the text written, over several megabytes', async () => {
    const text = new TextBlob();
    const pieces = Array.from(
      { length: 30_000 },
      (_, i) => `{"i":${i},"é":"${'x'.repeat(i % 200)}"}\n`,
    );
    for (const piece of pieces) text.write(piece);
    const blob = text.blob('application/json');
    expect(blob.type).toBe('application/json');
    expect(blob.size).toBeGreaterThan(3 << 20);
    expect(await blob.text()).toBe(pieces.join(''));
  });
});

/**
 * NodeReceiptPool: batches go to the worker threads, and to the calling thread (`local`) when
 * every worker already has one queued; the reports come back in the order the receipts were
 * given, the same wherever they were verified.
 */
import { describe, expect, it } from 'vitest';
import { verifyWorkItems } from '../src/bundle/runner';
import type { WorkItem } from '../src/bundle/work';
import type { ReceiptReport } from '../src/claims';
import { loadKeyHistory } from '../src/key-history';
import { NodeReceiptPool } from '../src/node/receipt-pool';
import { makeData } from './bundle/make-bundle';

describe('NodeReceiptPool', () => {
  it('verifies on the calling thread while its worker is busy, reports in order', async () => {
    const data = await makeData(4);
    const history = await loadKeyHistory(JSON.parse(data.snapshot), { publisher: data.publisher });
    const anchors = { certs: [], pinned: false };
    // Every fifth receipt tampered with, so that the order of the verdicts shows.
    const items: WorkItem[] = Array.from({ length: 1200 }, (_, i) => {
      const receipt = data.receipts[i % 4] as object;
      const given = i % 5 === 0 ? { ...receipt, callId: `other-${i}` } : receipt;
      return { receipt: given, receiptJson: JSON.stringify(given) };
    });
    let local = 0;
    const pool = new NodeReceiptPool(
      {
        snapshot: data.snapshot,
        publisher: { keys: [...data.publisher.values()] },
        anchors: [],
        anchorsPinned: false,
        refutedReasonsOnly: false,
      },
      1,
      (batch) => {
        local += batch.length;
        return verifyWorkItems(batch, history, anchors);
      },
    );
    const reports: ReceiptReport[] = [];
    try {
      for (const item of items) await pool.add(item, (done) => reports.push(...done));
      await pool.drain((done) => reports.push(...done));
    } finally {
      await pool.close();
    }
    expect(local).toBeGreaterThan(0);
    expect(local).toBeLessThan(items.length);
    expect(reports).toEqual(await verifyWorkItems(items, history, anchors));
    expect(reports.filter((r) => r.claims.signature_valid.status === 'refuted')).toHaveLength(240);
  });
});

/**
 * Receipts, inclusion proofs and key snapshots served by a log server written from the SPEC
 * alone, in Python, by an outside check (test/fixtures/external-log: its README and scripts),
 * run through the library as `quittance verify RECEIPT.json --jwks SNAPSHOT --publisher
 * PUBLISHER --proof PROOF --json` runs them. Its checkpoints write `createdAt` without a
 * fraction or with an offset, leave out the `timestamp` member, and are re-signed by a key
 * rotated in after the snapshot a receipt names; our verifier refuted all of these before.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type Claim,
  loadKeyHistory,
  parsePublisherKeys,
  parseReceipts,
  verifyReceipts,
} from '../src';

const dir = resolve(import.meta.dirname, '../../../test/fixtures/external-log');
const read = (name: string) => readFileSync(join(dir, 'cases', name), 'utf8');

interface ExternalCase {
  file: string;
  jwks: string;
  publisher: string;
  proof?: string;
  exit: 0 | 1;
  claims: Record<string, Claim['status']>;
  note?: string;
}
const cases = Object.entries(
  JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as Record<string, ExternalCase>,
);

describe('receipts and proofs from a log server written from the SPEC alone', () => {
  it('has the cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(23);
  });

  it.each(cases)('%s', async (name, c) => {
    const history = await loadKeyHistory(JSON.parse(read(c.jwks)), {
      publisher: parsePublisherKeys(JSON.parse(read(c.publisher))),
    });
    const report = await verifyReceipts(
      parseReceipts(read(c.file)),
      history,
      c.proof === undefined ? {} : { proof: JSON.parse(read(c.proof)) },
    );
    const reasons = JSON.stringify(report, null, 1);
    expect(report.receipts.length, name).toBeGreaterThan(0);
    for (const receipt of report.receipts) {
      for (const [claim, status] of Object.entries(c.claims)) {
        expect(
          receipt.claims[claim as keyof typeof receipt.claims]?.status,
          `${name}: ${claim}\n${reasons}`,
        ).toBe(status);
      }
    }
    const anyRefuted = [report.claims, ...report.receipts.map((r) => r.claims)].some((claims) =>
      Object.values(claims).some((claim) => (claim as Claim).status === 'refuted'),
    );
    expect(anyRefuted ? 1 : 0, `${name}: exit\n${reasons}`).toBe(c.exit);
  });
});

/**
 * The independent conformance vectors of SPEC 1.1 (`../shared/conformance`, a sibling of the
 * repository checkout, never edited here), run through the library exactly as
 * `quittance verify RECEIPT.json --jwks SNAPSHOT --publisher PUBLISHER --json` runs them:
 * one key history loaded with the pinned publisher key, each receipt verified against it,
 * the report assembled by `toReport`. Cases with an inclusion proof are out of scope here.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type Claim,
  loadKeyHistory,
  parsePublisherKeys,
  toReport,
  type VerificationReport,
  verifyReceipt,
} from '../src';

const repoRoot = resolve(import.meta.dirname, '../../..');
const receiptsDir = join(resolve(repoRoot, '..', 'shared', 'conformance'), 'receipts');

interface ConformanceCase {
  file?: string;
  jwks: string;
  proof?: string;
  exit: 0 | 1;
  claims: Record<string, Claim['status']>;
  note?: string;
}

const readJson = (name: string): unknown =>
  JSON.parse(readFileSync(join(receiptsDir, name), 'utf8'));

const cases = Object.entries(readJson('cases.json') as Record<string, ConformanceCase>).filter(
  ([, c]) => c.proof === undefined,
);

/** What the command line does for a receipt file (one receipt or an array of them). */
async function verifyAsTheCliDoes(c: ConformanceCase, name: string): Promise<VerificationReport> {
  const given = readJson(c.file ?? name);
  const receipts = Array.isArray(given) ? given : [given];
  const publisher = parsePublisherKeys(readJson('publisher.json'));
  const history = await loadKeyHistory(readJson(c.jwks), { publisher });
  const reports = [];
  for (const receipt of receipts) reports.push(await verifyReceipt(receipt, history, {}));
  return toReport({}, reports);
}

/** A claim's status wherever the report carries it: the receipt's claims, else bundle-level. */
function statusesOf(report: VerificationReport): Record<string, Claim['status']> {
  const receipt = report.receipts[0]?.claims ?? {};
  return Object.fromEntries(
    Object.entries({ ...report.claims, ...receipt }).map(([name, claim]) => [
      name,
      (claim as Claim).status,
    ]),
  );
}

describe('SPEC 1.1 conformance vectors (receipts without a proof)', () => {
  it('has the vectors', () => {
    expect(cases.length).toBeGreaterThanOrEqual(22);
  });

  it.each(cases)('%s', async (name, c) => {
    const report = await verifyAsTheCliDoes(c, name);
    expect(report.receipts).toHaveLength(1);
    const statuses = statusesOf(report);
    const reasons = JSON.stringify(report, null, 1);
    for (const [claim, status] of Object.entries(c.claims)) {
      expect(statuses[claim], `${name}: ${claim}\n${reasons}`).toBe(status);
    }
    // The exit status: 0 exactly when no claim anywhere (bundle-level included) is refuted.
    const anyRefuted = [report.claims, ...report.receipts.map((r) => r.claims)].some((claims) =>
      Object.values(claims).some((claim) => (claim as Claim).status === 'refuted'),
    );
    expect(anyRefuted ? 1 : 0, `${name}: exit\n${reasons}`).toBe(c.exit);
    expect(report.ok, `${name}: ok`).toBe(c.exit === 0);
  });
});

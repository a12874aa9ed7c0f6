/**
 * The independent conformance vectors of SPEC 1.1 (`../shared/conformance`, a sibling of the
 * repository checkout, never edited here), run through the library exactly as
 * `quittance verify RECEIPT.json --jwks SNAPSHOT --publisher PUBLISHER [--proof PROOF] --json`
 * runs them: one key history loaded with the pinned publisher key, each receipt verified
 * against it (with the inclusion proof, when the case has one), the report assembled by
 * `toReport`.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';
import {
  type Claim,
  loadKeyHistory,
  parsePublisherKeys,
  parseReceipts,
  type VerificationReport,
  verifyReceipts,
} from '../src';

const repoRoot = resolve(import.meta.dirname, '../../..');
const receiptsDir = join(resolve(repoRoot, '..', 'shared', 'conformance'), 'receipts');

export interface ConformanceCase {
  file?: string;
  jwks: string;
  proof?: string;
  exit: 0 | 1;
  claims: Record<string, Claim['status']>;
  note?: string;
}

const readText = (name: string): string => readFileSync(join(receiptsDir, name), 'utf8');

export const readJson = (name: string): unknown => JSON.parse(readText(name));

/** Every case of `receipts/cases.json`, as [name, case] pairs. */
export const allCases = (): [string, ConformanceCase][] =>
  Object.entries(readJson('cases.json') as Record<string, ConformanceCase>);

/** What the command line does for a receipt file (read and verified by the same functions). */
export async function verifyAsTheCliDoes(
  c: ConformanceCase,
  name: string,
): Promise<VerificationReport> {
  const receipts = parseReceipts(readText(c.file ?? name));
  const publisher = parsePublisherKeys(readJson('publisher.json'));
  const history = await loadKeyHistory(readJson(c.jwks), { publisher });
  return verifyReceipts(
    receipts,
    history,
    c.proof === undefined ? {} : { proof: readJson(c.proof) },
  );
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

/** Asserts exactly the listed claim statuses and the exit status of one case. */
export async function expectCase(name: string, c: ConformanceCase): Promise<VerificationReport> {
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
  return report;
}

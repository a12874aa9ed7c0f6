/**
 * The independent SPEC 1.1 conformance vectors (`../shared/conformance`, a sibling of the
 * repository checkout; never edited here) through the real command line, as their README
 * says to run them:
 *
 *     npx quittance verify receipts/<file> --jwks receipts/<jwks> --publisher receipts/publisher.json --json
 *
 * Every case, with its inclusion proof when it has one: the exit status and each listed claim
 * status.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bin, root, run } from './cli-bin';

const receiptsDir = join(resolve(root, '..', 'shared', 'conformance'), 'receipts');

type Status = 'asserted' | 'refuted' | 'unknown';
interface ConformanceCase {
  file?: string;
  jwks: string;
  proof?: string;
  exit: number;
  claims: Record<string, Status>;
}
interface JsonReport {
  ok: boolean;
  claims: Record<string, { status: Status }>;
  receipts: { id: string; claims: Record<string, { status: Status }> }[];
}

const cases = Object.entries(
  JSON.parse(readFileSync(join(receiptsDir, 'cases.json'), 'utf8')) as Record<
    string,
    ConformanceCase
  >,
);

/** Runs `quittance` as a user would, from the repository root; never throws on exit status. */
async function quittance(...args: string[]) {
  try {
    const { stdout, stderr } = await run(bin, args, { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const results = new Map<string, Awaited<ReturnType<typeof quittance>>>();

beforeAll(async () => {
  // Each run starts node and tsx (seconds on a busy machine): a few at a time, not 22 in a row.
  const queue = [...cases];
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const [name, c] = next;
      results.set(
        name,
        await quittance(
          'verify',
          join(receiptsDir, c.file ?? name),
          '--jwks',
          join(receiptsDir, c.jwks),
          '--publisher',
          join(receiptsDir, 'publisher.json'),
          ...(c.proof ? ['--proof', join(receiptsDir, c.proof)] : []),
          '--json',
        ),
      );
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
}, 300_000);

describe('quittance verify: SPEC 1.1 conformance vectors', () => {
  it('has the vectors, proofs included', () => {
    expect(cases.length).toBeGreaterThanOrEqual(28);
    expect(cases.filter(([, c]) => c.proof).length).toBeGreaterThanOrEqual(6);
  });

  it.each(cases)('%s', (name, c) => {
    const result = results.get(name);
    expect(result, name).toBeDefined();
    const { code, stdout, stderr } = result as NonNullable<typeof result>;
    // A crash also exits 1: the report on stdout is what proves a verdict was reached.
    let report: JsonReport | undefined;
    try {
      report = JSON.parse(stdout) as JsonReport;
    } catch {
      expect.fail(`${name}: no JSON report (exit ${code})\n${stdout}${stderr}`);
    }
    expect(code, `${name}: exit status\n${stdout}${stderr}`).toBe(c.exit);
    expect(report.ok).toBe(c.exit === 0);
    expect(report.receipts).toHaveLength(1);
    // A claim is reported per receipt (snapshot_authentic included) or, for bundles, at the top.
    const claims = { ...report.claims, ...report.receipts[0]?.claims };
    for (const [claim, status] of Object.entries(c.claims)) {
      expect(claims[claim]?.status, `${name}: ${claim}\n${stdout}`).toBe(status);
    }
  });
});

/**
 * Bundles made without our code (test/fixtures/external-bundles: a Python maker written from
 * SPEC 1.1 alone): the verifier gives each the verdict the SPEC requires, as the maker wrote it
 * down in expect.json. Last round's lesson: a verifier tested only on what its own writer
 * makes refuses valid bundles of others (here, manifests with other member names did).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parsePemCertificates } from '@quittance/tsp';
import { describe, expect, it } from 'vitest';
import { BundleError } from '../../src/bundle/errors';
import { verifyBundle } from '../../src/bundle/verify-bundle';
import { parsePublisherKeys } from '../../src/key-history';

const OUT = resolve(import.meta.dirname, '../../../../test/fixtures/external-bundles/out');
const read = (name: string) => readFileSync(join(OUT, name));

/** A status, or what the SPEC leaves open: `any`, `not_refuted`, `not_asserted`, `unknown_or_absent`. */
type Expected = string;
interface Expectation {
  exit: 0 | 1 | 2;
  kind: 'valid' | 'refute' | 'ambiguous' | 'unreadable';
  args: string[];
  bundle: Record<string, Expected>;
  receipts: Record<string, Record<string, Expected>>;
  note: string;
}
const expectations: Record<string, Expectation> = JSON.parse(read('expect.json').toString());

function holds(expected: Expected, got: string | undefined): boolean {
  switch (expected) {
    case 'any':
      return true;
    case 'unknown_or_absent':
      return got === undefined || got === 'unknown';
    case 'not_refuted':
      return got !== undefined && got !== 'refuted';
    case 'not_asserted':
      return got !== undefined && got !== 'asserted';
    default:
      return got === expected;
  }
}

/** What the command line would be given: `--publisher FILE` and `--tsa-trust FILE`. */
function optionsOf(args: string[]) {
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i < 0 ? undefined : (args[i + 1] as string);
  };
  const trust = flag('--tsa-trust');
  return {
    publisher: parsePublisherKeys(
      JSON.parse(read(flag('--publisher') ?? 'publisher.json').toString()),
    ),
    ...(trust ? { tsaTrustAnchors: parsePemCertificates(read(trust).toString()) } : {}),
    keepReceipts: true,
  };
}

describe('bundles made from the SPEC by another implementation', () => {
  it.each(Object.entries(expectations))('%s', async (name, expected) => {
    const zip = new Uint8Array(read(name.split('#')[0] as string));
    const outcome = await verifyBundle(zip, optionsOf(expected.args)).catch((e: unknown) => e);
    if (expected.exit === 2) {
      expect(outcome).toBeInstanceOf(BundleError);
      return;
    }
    if (outcome instanceof Error) throw outcome;
    const result = outcome as Awaited<ReturnType<typeof verifyBundle>>;
    const problems: string[] = [];
    for (const [claim, status] of Object.entries(result.claims))
      if (!holds(expected.bundle[claim] ?? 'not_refuted', status.status))
        problems.push(`bundle ${claim}: ${status.status} (${status.reason})`);
    for (const [claim, status] of Object.entries(expected.bundle))
      if (!holds(status, result.claims[claim]?.status))
        problems.push(`bundle ${claim}: ${result.claims[claim]?.status} (${status} expected)`);
    const reports = new Map((result.receipts ?? []).map((r) => [r.id, r.claims]));
    expect([...reports.keys()].sort()).toEqual(Object.keys(expected.receipts).sort());
    for (const [id, claims] of Object.entries(expected.receipts)) {
      const got = (reports.get(id) ?? {}) as Record<string, { status: string; reason: string }>;
      for (const [claim, status] of Object.entries(claims))
        if (!holds(status, got[claim]?.status))
          problems.push(`${id} ${claim}: ${got[claim]?.status} (${status} expected)`);
      for (const [claim, status] of Object.entries(got))
        if (!(claim in claims) && status.status === 'refuted')
          problems.push(`${id} ${claim}: refuted (${status.reason})`);
    }
    expect(problems, expected.note).toEqual([]);
    expect(result.ok ? 0 : 1).toBe(expected.exit);
  });
});

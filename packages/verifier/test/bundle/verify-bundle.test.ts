/**
 * verifyBundle, the orchestrator: the same verdict whatever holds the zip (a path under Node,
 * a Blob or bytes as in a browser), progress by step, cancellation, and worker threads.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rawZip, zeroBomb } from '@quittance/test-tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleError } from '../../src/bundle/errors';
import { type BundleProgress, verifyBundle } from '../../src/bundle/verify-bundle';
import {
  type BundleData,
  evidenceFiles,
  exportFiles,
  type Files,
  makeData,
  seal,
  zip,
} from './make-bundle';

let data: BundleData;
let dir: string;
let exported: Uint8Array<ArrayBuffer>;
beforeAll(async () => {
  data = await makeData(6);
  dir = await mkdtemp(join(tmpdir(), 'quittance-verify-bundle-'));
  exported = zip(await seal(data, await exportFiles(data), 'export'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const options = () => ({ publisher: data.publisher, keepReceipts: true });
let serial = 0;
async function onDisk(bytes: Uint8Array) {
  const path = join(dir, `b-${++serial}.zip`);
  await writeFile(path, bytes);
  return path;
}

/** A manifest as another writer might make it from SPEC §9's words: its own member names. */
const ownNames = (m: Record<string, unknown>) => ({
  id: m.bundleId,
  kind: m.kind ?? 'export',
  merchantId: m.merchantId,
  createdAt: (m.createdAt as string).replace('.000Z', 'Z'),
  range: { start: 'the beginning' },
  counts: { entries: 12 },
  files: m.files,
});

describe("manifests of other writers: SPEC §9 names what a manifest says, not its members' names", () => {
  it('an export whose manifest has only merchantId, createdAt and files of our names verifies', async () => {
    const narrowed = await exportFiles(data, 3);
    const result = await verifyBundle(
      zip(await seal(data, narrowed, 'export', { manifest: ownNames })),
      options(),
    );
    expect(result.ok).toBe(true);
    for (const claim of Object.values(result.claims)) expect(claim.status).toBe('asserted');
    // The entry before the range is known from log.json's size, not from the manifest.
    expect(result.claims.chain_complete?.reason).toContain('every receipt of the range');
    expect(result.receiptCount).toBe(4);
  });

  it('without a stated range, a receipt missing inside the chain is still found', async () => {
    const narrowed = await exportFiles(data, 3);
    const lines = (narrowed['receipts.jsonl'] as string).split('\n');
    lines.splice(1, 1);
    const result = await verifyBundle(
      zip(
        await seal(data, { ...narrowed, 'receipts.jsonl': lines.join('\n') }, 'export', {
          manifest: ownNames,
        }),
      ),
      options(),
    );
    expect(result.claims.chain_complete).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('no receipt for chain entries at seq 4'),
    });
  });

  it("an order evidence bundle without orderId, checkpoint or counts: the order is its receipts'", async () => {
    const result = await verifyBundle(
      zip(await seal(data, await evidenceFiles(data), 'order-evidence', { manifest: ownNames })),
      options(),
    );
    expect(result.ok).toBe(true);
    expect(result.orderId).toBe('order-1');
    expect(result.claims.included_in_log?.reason).toContain('receipts of order order-1');
  });

  it('a stated range end is held to the bundle even when the other end is not stated', async () => {
    // The last two receipts, their entries and bodies left out, under a manifest naming seq 6.
    const all = await exportFiles(data);
    const cut = (name: string, keep: number) =>
      `${(all[name] as string).split('\n').filter(Boolean).slice(0, keep).join('\n')}\n`;
    const short = {
      ...all,
      'receipts.jsonl': cut('receipts.jsonl', 4),
      'chain.jsonl': cut('chain.jsonl', 4),
      'bodies.jsonl': cut('bodies.jsonl', 4),
      'checkpoints.jsonl': cut('checkpoints.jsonl', 0),
    };
    const claimsWith = async (range: unknown, counts: unknown = {}) =>
      (
        await verifyBundle(
          zip(
            await seal(data, short, 'export', {
              manifest: ({ range: _, counts: __, ...m }) => ({
                ...m,
                ...(range === undefined ? {} : { range }),
                ...(counts === undefined ? {} : { counts }),
              }),
            }),
          ),
          options(),
        )
      ).claims;
    expect((await claimsWith({ lastSeq: 6 })).chain_complete).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining("the manifest's range ends at 6"),
    });
    for (const [range, counts, problem] of [
      [{ firstSeq: '1', lastSeq: 6 }, {}, 'range.firstSeq must be a positive integer or null'],
      [{ lastSeq: 6 }, { receipts: 6.5 }, 'counts.receipts must be a non-negative integer'],
      ['seq 1 to 6', {}, 'range must be an object'],
    ] as const)
      expect((await claimsWith(range, counts)).manifest_valid).toMatchObject({
        status: 'refuted',
        reason: expect.stringContaining(problem),
      });
    // Stated by nobody, the range is the bundle's own, and the reason says so.
    expect((await claimsWith(undefined, undefined)).chain_complete).toMatchObject({
      status: 'asserted',
      reason: expect.stringContaining('the manifest states no range'),
    });
  });

  it('a kind it does not know is refused by name', async () => {
    const result = await verifyBundle(
      zip(
        await seal(data, await exportFiles(data), 'export', {
          manifest: (m) => ({ ...m, kind: 'snapshot' }),
        }),
      ),
      options(),
    );
    expect(result.claims.manifest_valid).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('has kind "snapshot"'),
    });
  });
});

describe('the same verdict from a path, a Blob and bytes', () => {
  it('a valid export: every claim asserted or unknown, ok', async () => {
    const fromPath = await verifyBundle(await onDisk(exported), options());
    expect(fromPath.ok).toBe(true);
    expect(Object.keys(fromPath.claims)).toEqual([
      'snapshot_authentic',
      'manifest_valid',
      'checkpoints_valid',
      'log_consistent',
      'chain_complete',
      'body_matches',
      'files_intact',
    ]);
    expect(await verifyBundle(new Blob([exported]), options())).toEqual(fromPath);
    expect(await verifyBundle(exported, options())).toEqual(fromPath);
  });

  it('an order evidence bundle, and bundles with one file altered each', async () => {
    const evidence = await seal(data, await evidenceFiles(data), 'order-evidence');
    const good = await seal(data, await exportFiles(data), 'export');
    const variants: Files[] = [evidence];
    for (const name of Object.keys(good)) {
      const text = good[name] as string;
      variants.push({ ...good, [name]: `${text.slice(0, 10)}#${text.slice(11)}` });
    }
    for (const files of variants) {
      const bytes = zip(files);
      const fromPath = await verifyBundle(await onDisk(bytes), options());
      expect(await verifyBundle(new Blob([bytes]), options())).toEqual(fromPath);
      if (files !== evidence) expect(fromPath.ok).toBe(false);
    }
  });

  it('a zip bomb: the same refusal, with the file’s name, from a path and a Blob', async () => {
    const bomb = rawZip([
      { name: 'receipts.jsonl', data: zeroBomb(64), declared: 2 ** 31, raw: true },
    ]);
    const path = await onDisk(bomb);
    const fromPath = await verifyBundle(path, options()).catch((e) => e);
    const blob = new File([bomb], 'bomb.zip');
    const fromBlob = await verifyBundle(blob, options()).catch((e) => e);
    for (const error of [fromPath, fromBlob]) {
      expect(error).toBeInstanceOf(BundleError);
      expect(error).toMatchObject({ code: 'too_large' });
    }
    expect(fromBlob.message).toBe(fromPath.message.replace(path, 'bomb.zip'));
  });
});

describe('files of tiny lines (a few KB of zip, millions of lines)', () => {
  const tiny = (text: string) => `${text}${'{}\n'.repeat(60_000)}`;

  it('an export: each file stops being read after 10,000 unusable lines, problems counted', async () => {
    const files = await exportFiles(data);
    const sealed = await seal(data, files, 'export');
    for (const name of ['receipts.jsonl', 'chain.jsonl', 'bodies.jsonl'])
      sealed[name] = tiny(String(sealed[name]));
    const report = await verifyBundle(zip(sealed), options());
    expect(report.ok).toBe(false);
    // The files cut short first; chain.jsonl's 10,000 problems counted, five shown.
    expect(report.claims.chain_complete).toMatchObject({
      status: 'refuted',
      reason: expect.stringMatching(
        /^receipts\.jsonl: more than 10,000 lines are not .*; chain\.jsonl: more than 10,000 lines are not .*\(\+\d{4,5} more\)$/,
      ),
    });
    expect(report.claims.body_matches).toMatchObject({
      status: 'refuted',
      reason: expect.stringMatching(
        /^bodies\.jsonl: more than 10,000 lines are not .*\(\+\d{4,5} more\)$/,
      ),
    });
    expect(report.receiptCount).toBeLessThanOrEqual(6 + 10_000);
    expect(report.receipts.length).toBe(report.receiptCount);
  });

  it('an order evidence bundle: receipts.jsonl and proofs.jsonl stop the same way', async () => {
    const sealed = await seal(data, await evidenceFiles(data), 'order-evidence');
    for (const name of ['receipts.jsonl', 'proofs.jsonl'])
      sealed[name] = tiny(String(sealed[name]));
    const report = await verifyBundle(zip(sealed), options());
    expect(report.claims.included_in_log).toMatchObject({
      status: 'refuted',
      reason: expect.stringMatching(
        /^receipts\.jsonl: more than 10,000 lines are not .*; proofs\.jsonl: more than 10,000 lines are not .*\(\+\d{5} more\)$/,
      ),
    });
    expect(report.receiptCount).toBeLessThanOrEqual(6 + 10_000);
  });
});

describe('progress, cancellation, worker threads', () => {
  it('reports each step in order, then every receipt', async () => {
    const seen: BundleProgress[] = [];
    await verifyBundle(exported, options(), (progress) => seen.push(progress));
    const steps = seen.map((p) => p.step).filter((s, i, all) => s !== all[i - 1]);
    expect(steps).toEqual(['manifest', 'snapshots', 'checkpoints', 'chain', 'receipts', 'files']);
    expect(seen.find((p) => p.step === 'files')).toEqual({
      step: 'files',
      receipts: 6,
      totalReceipts: 6,
    });
  });

  it('a cancelled verification rejects with the signal’s reason, before or during', async () => {
    const before = new AbortController();
    before.abort(new Error('not wanted'));
    await expect(verifyBundle(exported, { ...options(), signal: before.signal })).rejects.toThrow(
      'not wanted',
    );
    const during = new AbortController();
    const result = verifyBundle(exported, { ...options(), signal: during.signal }, (p) => {
      if (p.step === 'receipts') during.abort(new Error('stopped'));
    });
    await expect(result).rejects.toThrow('stopped');
  });

  it('a broken chain refutes the link of every receipt, though receipts are verified while it is read', async () => {
    const files = await exportFiles(data);
    const lines = (files['chain.jsonl'] as string).split('\n');
    const entry = JSON.parse(lines[4] as string);
    lines[4] = JSON.stringify({ ...entry, receiptHash: 'b'.repeat(64) });
    const path = await onDisk(
      zip(await seal(data, { ...files, 'chain.jsonl': lines.join('\n') }, 'export')),
    );
    for (const workers of [0, 2]) {
      const result = await verifyBundle(path, { ...options(), workers });
      expect(result.claims.chain_complete?.reason).toContain(
        'chain entry seq 5: entryHash does not recompute',
      );
      expect(result.counts.chain_linked).toEqual({ asserted: 0, refuted: 6, unknown: 0 });
      expect(result.receipts[0]?.claims.chain_linked.reason).toContain(
        'the chain around it is broken',
      );
    }
  });

  it('on worker threads: the same reports as inline, with or without reasons kept', async () => {
    const path = await onDisk(exported);
    const inline = await verifyBundle(path, { ...options(), workers: 0 });
    const threads = await verifyBundle(path, { ...options(), workers: 2 });
    expect(threads).toEqual(inline);
    const counted = await verifyBundle(path, { publisher: data.publisher, workers: 1 });
    expect(counted.counts).toEqual(inline.counts);
    expect(counted.receipts).toEqual([]);
  });

  it('on worker threads: a line that is no receipt keeps its place among the reports', async () => {
    const files = await exportFiles(data);
    const lines = (files['receipts.jsonl'] as string).split('\n');
    lines[2] = '{not json';
    const path = await onDisk(
      zip(await seal(data, { ...files, 'receipts.jsonl': lines.join('\n') }, 'export')),
    );
    const inline = await verifyBundle(path, { ...options(), workers: 0 });
    expect(inline.receipts[2]?.id).toBe('(receipts.jsonl line 3)');
    expect(await verifyBundle(path, { ...options(), workers: 1 })).toEqual(inline);
  });
});

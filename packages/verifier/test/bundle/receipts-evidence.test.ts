import { beforeAll, describe, expect, it } from 'vitest';
import { checkChain } from '../../src/bundle/chain';
import { checkCheckpoints } from '../../src/bundle/checkpoints';
import { checkEvidenceReceipts } from '../../src/bundle/evidence';
import { checkFiles } from '../../src/bundle/files';
import { readLog } from '../../src/bundle/log';
import { readManifest } from '../../src/bundle/manifest';
import { checkExportReceipts } from '../../src/bundle/receipts';
import { receiptRunner } from '../../src/bundle/runner';
import { readSnapshots } from '../../src/bundle/snapshots';
import { ReceiptTally } from '../../src/bundle/tally';
import { readTsaAnchors } from '../../src/bundle/tsa';
import {
  type BundleData,
  contentsOf,
  editLine,
  evidenceFiles,
  exportFiles,
  type Files,
  listFiles,
  makeData,
  seal,
} from './make-bundle';

let data: BundleData;
let files: Files;
beforeAll(async () => {
  data = await makeData(6);
  files = await exportFiles(data);
});

/** The steps before the receipts, as the orchestrator runs them. */
async function setUp(bundle: Files, kind: 'export' | 'order-evidence') {
  const contents = await contentsOf(await seal(data, bundle, kind));
  const manifest = await readManifest(contents);
  const { history, newest } = await readSnapshots(contents, data.publisher);
  const anchors = await readTsaAnchors(contents, undefined);
  const tally = new ReceiptTally({ keepReceipts: true });
  const runner = receiptRunner({
    total: 6,
    workers: 0,
    history,
    snapshot: newest,
    publisher: {},
    anchors,
    reportsKept: true,
  });
  const facts = {
    chainProblems: [] as readonly string[],
    includeBodies: 'bodies.jsonl' in bundle,
    anchorsFromBundle: true,
    contents,
  };
  const base = { contents, tally, facts, runner, snapshotAuthentic: history.authentic };
  return { contents, manifest, history, anchors, base };
}

/** An export's receipts step. */
async function receiptsOf(bundle: Files) {
  const { contents, manifest, history, anchors, base } = await setUp(bundle, 'export');
  const checkpoints = await checkCheckpoints(
    contents,
    history,
    anchors,
    undefined,
    manifest.manifest?.merchantId,
  );
  const log = await readLog(contents);
  const chain = await checkChain(contents, checkpoints, log, manifest.manifest?.range.firstSeq);
  base.facts.chainProblems = chain.problems.kept;
  const read = await checkExportReceipts({ ...base, manifest: manifest.manifest, chain });
  return { tally: base.tally, ...read };
}

/** An order evidence bundle's receipts step. */
async function evidenceReceiptsOf(bundle: Files) {
  const { contents, manifest, history, anchors, base } = await setUp(bundle, 'order-evidence');
  const evidence = { manifest: manifest.evidence };
  const checkpoints = await checkCheckpoints(contents, history, anchors, evidence);
  const read = await checkEvidenceReceipts({
    ...base,
    manifest: manifest.evidence,
    checkpoint: checkpoints.evidenceCheckpoint,
  });
  return { tally: base.tally, ...read };
}

describe('checkExportReceipts: each receipt with its chain entry; chain_complete; body_matches', () => {
  it('every receipt verifies, links and has its body', async () => {
    const { tally, chainComplete, bodyMatches } = await receiptsOf(files);
    expect(chainComplete).toMatchObject({
      status: 'asserted',
      reason: '6 chain entries link without gaps and every receipt of the range is present',
    });
    expect(bodyMatches?.status).toBe('asserted');
    expect(tally.receiptCount).toBe(6);
    expect(tally.counts.chain_linked).toEqual({ asserted: 6, refuted: 0, unknown: 0 });
    expect(tally.counts.body_matches).toEqual({ asserted: 6, refuted: 0, unknown: 0 });
    expect(tally.firstFailures).toEqual([]);
  });

  it('a receipt left out: chain_complete names its entry, and the count', async () => {
    const lines = (files['receipts.jsonl'] as string).split('\n');
    const bodies = (files['bodies.jsonl'] as string).split('\n');
    const { chainComplete } = await receiptsOf({
      ...files,
      'receipts.jsonl': [...lines.slice(0, 2), ...lines.slice(3)].join('\n'),
      'bodies.jsonl': [...bodies.slice(0, 2), ...bodies.slice(3)].join('\n'),
    });
    expect(chainComplete).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('no receipt for chain entries at seq 3'),
    });
  });

  it('the range cut short at its end, or chain.jsonl gone, under a manifest naming the range', async () => {
    // Both asserted chain_complete once: only entries passed over counted as missing.
    const cut = (name: string) =>
      `${(files[name] as string).split('\n').filter(Boolean).slice(0, -1).join('\n')}\n`;
    const shortened = await receiptsOf({
      ...files,
      'receipts.jsonl': cut('receipts.jsonl'),
      'chain.jsonl': cut('chain.jsonl'),
      'bodies.jsonl': cut('bodies.jsonl'),
    });
    expect(shortened.chainComplete).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining(
        "chain.jsonl holds seq 1 to 5, the manifest's range needs 1 to 6",
      ),
    });
    const { 'chain.jsonl': _, ...chainless } = files;
    const { chainComplete, tally } = await receiptsOf(chainless);
    expect(chainComplete).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('6 receipts have no chain entry (seq 1, 2, 3, 4, 5, 6)'),
    });
    expect(tally.counts.chain_linked?.refuted).toBe(6);
  });

  it('a receipt twice, out of order, or not its entry’s: refuted for that receipt', async () => {
    const lines = (files['receipts.jsonl'] as string).split('\n').filter(Boolean);
    const twice = await receiptsOf({
      ...files,
      'receipts.jsonl': `${[...lines, lines[5]].join('\n')}\n`,
    });
    expect(twice.tally.firstFailures).toContainEqual(
      expect.objectContaining({
        claim: 'chain_linked',
        reason: expect.stringContaining('appears twice'),
      }),
    );
    const swapped = await receiptsOf({
      ...files,
      'receipts.jsonl': `${[lines[1], lines[0], ...lines.slice(2)].join('\n')}\n`,
    });
    expect(swapped.tally.firstFailures).toContainEqual(
      expect.objectContaining({ reason: 'receipts are not in chain order (seq 1 after 2)' }),
    );
    const moved = await receiptsOf({
      ...files,
      'receipts.jsonl': editLine(files['receipts.jsonl'] as string, 2, (r) => ({
        ...r,
        chain: { ...(r.chain as object), seq: 5 },
      })),
    });
    expect(moved.tally.counts.chain_linked?.refuted).toBeGreaterThan(0);
  });

  it('a line that is not a receipt is a refuted report of its own, the rest still verify', async () => {
    const { tally } = await receiptsOf({
      ...files,
      'receipts.jsonl': `${files['receipts.jsonl']}not json\n[1]\n{"a":1,"a":2}\n`,
    });
    expect(tally.receiptCount).toBe(9);
    expect(tally.counts.signature_valid).toEqual({ asserted: 6, refuted: 3, unknown: 0 });
    expect(tally.receipts.at(-1)?.claims.signature_valid?.reason).toContain(
      'member "a" occurs twice',
    );
    expect(tally.receipts.at(-2)?.id).toBe('(receipts.jsonl line 8)');
  });

  it('an altered body: that receipt’s body_matches; a body line for no receipt: the bundle’s', async () => {
    const altered = await receiptsOf({
      ...files,
      'bodies.jsonl': editLine(files['bodies.jsonl'] as string, 1, (b) => ({
        ...b,
        output: { sku: 'x' },
      })),
    });
    expect(altered.tally.receipts[1]?.claims.body_matches?.status).toBe('refuted');
    const stray = await receiptsOf({
      ...files,
      'bodies.jsonl': `${files['bodies.jsonl']}{"id":"trcpt_nobody","input":1,"output":2}\n`,
    });
    expect(stray.bodyMatches).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('trcpt_nobody'),
    });
  });
});

describe('checkExportReceipts: included_in_log of an export (a leaf of a signed root it recomputes)', () => {
  const statuses = (tally: ReceiptTally) =>
    tally.receipts.map((r) => r.claims.included_in_log?.status);
  const withCheckpoints = (...checkpoints: unknown[]) => ({
    ...files,
    'checkpoints.jsonl': `${checkpoints.map((c) => JSON.stringify(c)).join('\n')}\n`,
  });

  it('every receipt up to a verified checkpoint whose rootHash recomputes is in the log', async () => {
    const { tally } = await receiptsOf(files);
    expect(statuses(tally)).toEqual(Array(6).fill('asserted'));
    expect(tally.receipts[2]?.claims.included_in_log?.reason).toBe(
      'its entry (seq 3) is a leaf of the tree whose rootHash the checkpoint at seq 6 signs, recomputed from log.json and chain.jsonl',
    );
  });

  it('receipts after the last checkpoint are unknown, not asserted', async () => {
    const { tally } = await receiptsOf(withCheckpoints(data.checkpoints[0]));
    expect(statuses(tally)).toEqual(['asserted', 'asserted', ...Array(4).fill('unknown')]);
    expect(tally.receipts[2]?.claims.included_in_log?.reason).toContain(
      'no checkpoint of the bundle whose signature verifies and whose rootHash recomputes covers seq 3',
    );
  });

  it('a checkpoint whose rootHash does not recompute, or whose signature fails, covers nothing', async () => {
    const forgedRoot = await data.signCheckpoint(6, { rootHash: 'd'.repeat(64) });
    expect(statuses((await receiptsOf(withCheckpoints(forgedRoot))).tally)).toEqual(
      Array(6).fill('unknown'),
    );
    const badSignature = {
      ...(data.checkpoints[1] as object),
      createdAt: '2020-01-01T00:00:00.000Z',
    };
    expect(statuses((await receiptsOf(withCheckpoints(badSignature))).tally)).toEqual(
      Array(6).fill('unknown'),
    );
  });

  // Found by a review: the signature was checked on one copy and the root on the other.
  it('two checkpoints at one seq, one validly signed over another root, one with the true root and a bad signature: no inclusion', async () => {
    const fork = await data.signCheckpoint(6, { rootHash: 'd'.repeat(64) });
    const unsigned = { ...(data.checkpoints[1] as object), createdAt: '2026-11-20T10:20:00.999Z' };
    const { tally } = await receiptsOf(withCheckpoints(fork, unsigned));
    expect(statuses(tally)).toEqual(Array(6).fill('unknown'));
  });

  it("another merchant's checkpoint is refuted and covers nothing", async () => {
    const other = await data.signCheckpoint(6, { merchantId: 'beta' });
    const bundle = withCheckpoints(other);
    const { tally } = await receiptsOf(bundle);
    expect(statuses(tally)).toEqual(Array(6).fill('unknown'));
    const { contents, manifest, history, anchors } = await setUp(bundle, 'export');
    const read = await checkCheckpoints(
      contents,
      history,
      anchors,
      undefined,
      manifest.manifest?.merchantId,
    );
    expect(read.claim).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('is a checkpoint of merchant "beta"'),
    });
  });

  it('a receipt whose entry is not its own is not counted in the log', async () => {
    const lines = (files['receipts.jsonl'] as string).split('\n').filter(Boolean);
    const swapped = [...lines];
    [swapped[3], swapped[4]] = [lines[4] as string, lines[3] as string];
    const { tally } = await receiptsOf({ ...files, 'receipts.jsonl': `${swapped.join('\n')}\n` });
    expect(tally.counts.included_in_log?.asserted).toBeLessThan(6);
    for (const receipt of tally.receipts)
      if (receipt.claims.chain_linked.status !== 'asserted')
        expect(receipt.claims.included_in_log?.status).toBe('unknown');
  });
});

describe('checkEvidenceReceipts: included_in_log of an order evidence bundle', () => {
  let evidence: Files;
  beforeAll(async () => {
    evidence = await evidenceFiles(data, 'order-1');
  });

  it('each receipt of the order has its proof against the bundle’s checkpoint', async () => {
    const { tally, includedInLog } = await evidenceReceiptsOf(evidence);
    expect(includedInLog).toMatchObject({
      status: 'asserted',
      reason: expect.stringContaining('each of the 2 receipts of order order-1'),
    });
    expect(tally.counts.included_in_log).toEqual({ asserted: 2, refuted: 0, unknown: 0 });
  });

  it('a proof missing, an altered audit path, a receipt of another order', async () => {
    const proofs = (evidence['proofs.jsonl'] as string).split('\n');
    const missing = await evidenceReceiptsOf({ ...evidence, 'proofs.jsonl': `${proofs[0]}\n` });
    expect(missing.tally.receipts[1]?.claims.included_in_log?.reason).toContain(
      'proofs.jsonl has no proof for it',
    );
    const altered = await evidenceReceiptsOf({
      ...evidence,
      'proofs.jsonl': editLine(evidence['proofs.jsonl'] as string, 1, (p) => ({
        ...p,
        auditPath: ['0'.repeat(64), ...(p.auditPath as string[]).slice(1)],
      })),
    });
    expect(altered.tally.receipts[1]?.claims.included_in_log?.status).toBe('refuted');
    expect(altered.includedInLog.status).toBe('refuted');
    const stranger = await evidenceReceiptsOf({
      ...evidence,
      'receipts.jsonl': `${evidence['receipts.jsonl']}${JSON.stringify(data.receipts[0])}\n`,
    });
    expect(stranger.includedInLog.reason).toContain('is of order "order-0", not order-1');
  });

  it('200,000 lines of junk before the proofs refute included_in_log, not overflow the stack', async () => {
    // Once spread into one push: one argument per bad line, past the call stack's limit.
    const junk = await evidenceReceiptsOf({
      ...evidence,
      'proofs.jsonl': `${'{}\n'.repeat(200_000)}${evidence['proofs.jsonl']}`,
    });
    expect(junk.includedInLog.status).toBe('refuted');
  });
});

describe('checkFiles: files_intact', () => {
  it('every listed file present with its hash, nothing added, each name once', async () => {
    const listed = await listFiles(files);
    const read = new Map(listed.map((f) => [f.path, { bytes: f.bytes, sha256: f.sha256 }]));
    const names = Object.keys(files);
    const base = {
      read,
      names,
      unlisted: ['manifest.json', 'manifest.jws'],
      duplicates: [],
      disagreements: [],
    };
    expect(checkFiles({ ...base, manifest: { files: listed } })).toMatchObject({
      status: 'asserted',
      reason: `all ${names.length} files match their size and SHA-256 in the manifest; none added`,
    });
    const changed = new Map(read).set('log.json', { bytes: 1, sha256: '0'.repeat(64) });
    expect(checkFiles({ ...base, read: changed, manifest: { files: listed } }).reason).toContain(
      'log.json does not match its SHA-256',
    );
    expect(
      checkFiles({ ...base, names: [...names, 'extra.txt'], manifest: { files: listed } }).reason,
    ).toContain('extra.txt is not in the manifest');
    expect(
      checkFiles({
        ...base,
        manifest: { files: [...listed, { path: 'gone', bytes: 1, sha256: '0'.repeat(64) }] },
      }).reason,
    ).toContain('gone is listed but missing');
    expect(
      checkFiles({ ...base, manifest: { files: [...listed, listed[0] as never] } }).reason,
    ).toContain('the manifest lists a file twice');
    expect(
      checkFiles({ ...base, manifest: { problem: 'manifest.json is missing' } }).reason,
    ).toContain('no usable manifest: manifest.json is missing');
    expect(
      checkFiles({ ...base, duplicates: ['a', 'a'], manifest: { files: listed } }).reason,
    ).toMatch(/^a occurs more than once in the zip/);
    expect(
      checkFiles({
        ...base,
        disagreements: ['b: its local header says name "B"'],
        manifest: { files: listed },
      }).reason,
    ).toMatch(/zip tools would disagree/);
  });
});

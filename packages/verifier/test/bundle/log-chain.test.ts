import { chainLinkProblems, GENESIS_HASH } from '@quittance/format';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkChain } from '../../src/bundle/chain';
import { checkCheckpoints } from '../../src/bundle/checkpoints';
import { readLog } from '../../src/bundle/log';
import { readSnapshots } from '../../src/bundle/snapshots';
import { readTsaAnchors } from '../../src/bundle/tsa';
import {
  type BundleData,
  contentsOf,
  editLine,
  exportFiles,
  type Files,
  makeData,
} from './make-bundle';

let data: BundleData;
let files: Files;
beforeAll(async () => {
  data = await makeData(6);
  files = await exportFiles(data);
});

describe('chainLinkProblems: the link rule of SPEC §6, written once', () => {
  it('a good link; entryHash, genesis, gap and prevHash problems', async () => {
    const [first, second, third] = data.chain as [never, never, never];
    expect(await chainLinkProblems(first)).toEqual([]);
    expect(await chainLinkProblems(second, first)).toEqual([]);
    expect(
      await chainLinkProblems({ ...(first as object), prevHash: 'a'.repeat(64) } as never),
    ).toEqual(['entry_hash', 'genesis']);
    expect(await chainLinkProblems(third, first)).toEqual(['gap', 'prev_hash']);
    expect(
      await chainLinkProblems({ ...(second as object), entryHash: GENESIS_HASH } as never, first),
    ).toEqual(['entry_hash']);
    // Members that have no canonical form recompute to nothing: a problem, not a throw.
    expect(
      await chainLinkProblems({ ...(second as object), receiptId: '\ud800' } as never, first),
    ).toEqual(['entry_hash']);
  });
});

describe('readLog: log.json', () => {
  it('size and frontier, one hash per set bit of size', async () => {
    expect(await readLog(await contentsOf(files))).toEqual({ ok: true, size: 0, frontier: [] });
    const later = await readLog(await contentsOf(await exportFiles(data, 4)));
    expect(later).toMatchObject({ ok: true, size: 3 });
    expect(later.ok && later.frontier).toHaveLength(2);
  });

  it('missing, not JSON, the wrong shape, the wrong number of hashes', async () => {
    const cases: [string | undefined, string][] = [
      [undefined, 'log.json is missing'],
      ['{', 'log.json is not JSON'],
      ['{"size": -1, "frontier": []}', 'is not {"size"'],
      [`{"size": 1, "frontier": ["${'A'.repeat(64)}"]}`, 'other than 64 lowercase hex'],
      [`{"size": 3, "frontier": ["${'a'.repeat(64)}"]}`, 'a tree of 3 entries has 2'],
    ];
    for (const [log, problem] of cases) {
      const bundle = { ...files, 'log.json': log } as Files;
      if (log === undefined) delete bundle['log.json'];
      const read = await readLog(await contentsOf(bundle));
      expect(read).toMatchObject({ ok: false, problem: expect.stringContaining(problem) });
    }
  });
});

describe('checkChain: every link, and log_consistent', () => {
  const chainOf = async (bundle: Files, firstSeq = 1) => {
    const contents = await contentsOf(bundle);
    const { history } = await readSnapshots(contents, data.publisher);
    const checkpoints = await checkCheckpoints(
      contents,
      history,
      await readTsaAnchors(contents, undefined),
      undefined,
    );
    return checkChain(contents, checkpoints, await readLog(contents), firstSeq);
  };

  it('an intact chain: no problem, each checkpoint’s root recomputed', async () => {
    const chain = await chainOf(files);
    expect(chain.problems.kept).toEqual([]);
    expect(chain.count).toBe(6);
    expect(chain.logConsistent).toMatchObject({
      status: 'asserted',
      reason: expect.stringContaining(
        'the rootHash of 2 checkpoints recomputes from log.json (size 0)',
      ),
    });
  });

  it('a later range: the entry before it first, the checkpoint before it named as outside', async () => {
    const later = await exportFiles(data, 4);
    const chain = await chainOf(
      { ...later, 'checkpoints.jsonl': files['checkpoints.jsonl'] as string },
      4,
    );
    expect(chain.problems.kept).toEqual([]);
    expect(chain.logConsistent).toMatchObject({
      status: 'asserted',
      reason: expect.stringMatching(
        /rootHash of 1 checkpoint recomputes.*1 checkpoint \(seq 2\) lie outside/,
      ),
    });
  });

  it('an entry altered, removed or not an entry: named problems, log_consistent refuted past the break', async () => {
    const chainText = files['chain.jsonl'] as string;
    const altered = await chainOf({
      ...files,
      'chain.jsonl': editLine(chainText, 2, (e) => ({ ...e, receiptHash: 'b'.repeat(64) })),
    });
    expect(altered.problems.kept).toEqual(['chain entry seq 3: entryHash does not recompute']);
    const lines = chainText.split('\n');
    const removed = await chainOf({
      ...files,
      'chain.jsonl': [...lines.slice(0, 2), ...lines.slice(3)].join('\n'),
    });
    expect(removed.problems.kept).toEqual([
      'chain jumps from seq 2 to 4',
      'chain entry seq 4: prevHash does not link to seq 2',
    ]);
    expect(removed.logConsistent).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining(
        'cannot be recomputed: chain.jsonl has seq 4 where seq 3 should be',
      ),
    });
    const scalar = await chainOf({ ...files, 'chain.jsonl': editLine(chainText, 1, () => 42) });
    expect(scalar.problems.kept[0]).toBe('chain.jsonl line 2 is 42, not a chain entry object');
  });

  it('a checkpoint that names another entry than the chain’s', async () => {
    const other = await data.signCheckpoint(4, { entryHash: 'c'.repeat(64) });
    const chain = await chainOf({
      ...files,
      'checkpoints.jsonl': `${JSON.stringify(data.checkpoints[0])}\n${JSON.stringify(other)}\n`,
    });
    expect(chain.problems.kept).toContain('checkpoint at seq 4 names another entryHash');
  });

  it('a frontier that does not meet the chain, or a checkpoint whose root differs', async () => {
    const later = await exportFiles(data, 4);
    const log = JSON.parse(later['log.json'] as string);
    const wrongLeaf = await chainOf(
      {
        ...later,
        'log.json': JSON.stringify({ ...log, frontier: [log.frontier[0], 'e'.repeat(64)] }),
      },
      4,
    );
    expect(wrongLeaf.logConsistent).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('does not end with the leaf of chain entry 3'),
    });
    const wrongSize = await chainOf(
      { ...later, 'log.json': JSON.stringify({ size: 2, frontier: [log.frontier[0]] }) },
      4,
    );
    expect(wrongSize.logConsistent.reason).toContain("log.json's size 2 does not meet chain.jsonl");
    const forged = await data.signCheckpoint(6, { rootHash: 'd'.repeat(64) });
    const wrongRoot = await chainOf({
      ...files,
      'checkpoints.jsonl': `${JSON.stringify(forged)}\n`,
    });
    expect(wrongRoot.logConsistent).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('the checkpoint at seq 6 signs rootHash dddddddddddd…'),
    });
  });
});

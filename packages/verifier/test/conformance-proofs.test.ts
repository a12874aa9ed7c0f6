/**
 * The SPEC 1.1 conformance vectors with an inclusion proof (`--proof`), run as
 * conformance-cases.ts says, then the same vectors altered one way at a time: the
 * `included_in_log` claim (SPEC §6.1, §10) is asserted only by a proof of this very receipt
 * that recomputes the rootHash of a checkpoint signed by a key valid at its createdAt.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Claim,
  type KeyHistory,
  loadKeyHistory,
  parsePublisherKeys,
  verifyReceipt,
} from '../src';
import { allCases, expectCase, readJson } from './conformance-cases';

const cases = allCases().filter(([, c]) => c.proof !== undefined);

describe('SPEC 1.1 conformance vectors (receipts with an inclusion proof)', () => {
  it('has the vectors', () => {
    expect(cases.length).toBeGreaterThanOrEqual(6);
  });

  it.each(cases)('%s', async (name, c) => {
    await expectCase(name, c);
  });
});

type Json = Record<string, unknown>;
const clone = <T>(value: T): T => structuredClone(value);
const flip = (hex: string) => (hex[0] === '0' ? '1' : '0') + hex.slice(1);

describe('included_in_log, one alteration at a time', () => {
  let history: KeyHistory;
  const receipt = () => clone(readJson('log-06.json')) as Json & { chain: Json };
  const proof = () =>
    clone(readJson('proof-06.json')) as Json & { auditPath: string[]; checkpoint: Json };
  const claimOf = async (r: unknown, p: unknown, h: unknown = history): Promise<Claim> =>
    (await verifyReceipt(r, h, { proof: p })).claims.included_in_log as Claim;

  beforeAll(async () => {
    history = await loadKeyHistory(readJson('snapshot.json'), {
      publisher: parsePublisherKeys(readJson('publisher.json')),
    });
  });

  it('the vector as given: asserted', async () => {
    const claim = await claimOf(receipt(), proof());
    expect(claim).toMatchObject({ status: 'asserted', source: 'verifier_derived' });
  });

  it('every audit path hash changed, dropped or added: refuted', async () => {
    const good = proof();
    for (const [i, hash] of good.auditPath.entries()) {
      const p = proof();
      p.auditPath[i] = flip(hash);
      expect((await claimOf(receipt(), p)).status, `auditPath[${i}]`).toBe('refuted');
    }
    for (const auditPath of [
      good.auditPath.slice(1),
      good.auditPath.slice(0, -1),
      [...good.auditPath, good.auditPath[0]],
      [],
      Array(65).fill(good.auditPath[0]),
      Array(100_000).fill(good.auditPath[0]),
    ]) {
      const claim = await claimOf(receipt(), { ...proof(), auditPath });
      expect(claim.status, `${auditPath.length} hashes`).toBe('refuted');
    }
  });

  it("a receipt whose chain.entryHash does not recompute cannot borrow the leaf's place", async () => {
    const r = receipt();
    r.chain.entryHash = flip(r.chain.entryHash as string);
    const report = await verifyReceipt(r, history, { proof: proof() });
    expect(report.claims.chain_linked.status).toBe('refuted');
    expect(report.claims.included_in_log?.status).toBe('refuted');
    // Nor one that claims another seq or prevHash.
    const moved = receipt();
    moved.chain.seq = 7;
    expect((await claimOf(moved, proof())).status).toBe('refuted');
    const relinked = receipt();
    relinked.chain.prevHash = flip(relinked.chain.prevHash as string);
    expect((await claimOf(relinked, proof())).status).toBe('refuted');
  });

  it('a tampered signed member changes the leaf: refuted', async () => {
    const r = receipt();
    r.tool = 'cancel_checkout';
    const report = await verifyReceipt(r, history, { proof: proof() });
    expect(report.claims.signature_valid.status).toBe('refuted');
    expect(report.claims.included_in_log?.status).toBe('refuted');
  });

  it('the proof must agree with itself and name this receipt, merchant and place', async () => {
    const edits: [string, (p: ReturnType<typeof proof>) => void][] = [
      ['seq of the next entry', (p) => Object.assign(p, { seq: 7 })],
      ['seq past the tree', (p) => Object.assign(p, { seq: 12 })],
      ['treeSize larger than the checkpoint', (p) => Object.assign(p, { treeSize: 12 })],
      ['treeSize smaller than the checkpoint', (p) => Object.assign(p, { treeSize: 10 })],
      [
        'another receiptId',
        (p) => Object.assign(p, { receiptId: 'trcpt_01J5C0NF000000000000000007' }),
      ],
      ['another merchant', (p) => Object.assign(p.checkpoint, { merchantId: 'mch_conf_other' })],
      ['checkpoint of another seq', (p) => Object.assign(p.checkpoint, { seq: 12 })],
      ['checkpoint without rootHash', (p) => Reflect.deleteProperty(p.checkpoint, 'rootHash')],
      ['uppercase rootHash', (p) => Object.assign(p.checkpoint, { rootHash: 'AB'.repeat(32) })],
      [
        'kid of the revoked key',
        (p) => Object.assign(p.checkpoint, { signingKeyKid: 'mch_conf-2026Q3-2' }),
      ],
      [
        'createdAt changed',
        (p) => Object.assign(p.checkpoint, { createdAt: '2026-08-15T10:15:00.001Z' }),
      ],
      ['an extra signed member', (p) => Object.assign(p.checkpoint, { note: 'x' })],
      ['no checkpoint', (p) => Reflect.deleteProperty(p, 'checkpoint')],
    ];
    for (const [what, edit] of edits) {
      const p = proof();
      edit(p);
      expect((await claimOf(receipt(), p)).status, what).toBe('refuted');
    }
  });

  it('a proof that is not a proof refutes the claim, and never throws', async () => {
    for (const p of [
      null,
      'proof',
      42,
      [],
      {},
      { ...proof(), seq: '6' },
      { ...proof(), seq: 2 ** 60 },
    ]) {
      expect((await claimOf(receipt(), p)).status, JSON.stringify(p)?.slice(0, 60)).toBe('refuted');
    }
  });

  it('evidence the leaf needs is missing: unknown, never asserted', async () => {
    const { chain: _chain, ...withoutChain } = receipt();
    expect((await claimOf(withoutChain, proof())).status).toBe('unknown');
    const { jws: _jws, ...withoutJws } = receipt();
    expect((await claimOf(withoutJws, proof())).status).toBe('unknown');
    expect((await claimOf({ ...receipt(), chain: 'seq-6' }, proof())).status).toBe('unknown');
    expect((await verifyReceipt(receipt(), history)).claims.included_in_log?.status).toBe(
      'unknown',
    );
  });

  it("without the publisher key the checkpoint key is the operator's word", async () => {
    const claim = await claimOf(receipt(), proof(), readJson('snapshot.json'));
    expect(claim).toMatchObject({ status: 'asserted', source: 'operator_asserted' });
    // A forged snapshot refutes it: no key of it is trusted.
    const forged = await loadKeyHistory(readJson('snapshot-forged.json'), {
      publisher: parsePublisherKeys(readJson('publisher.json')),
    });
    expect((await claimOf(receipt(), proof(), forged)).status).toBe('refuted');
  });

  it('the last entry: the checkpoint must name the same entryHash', async () => {
    const r = readJson('log-11.json');
    const p = clone(readJson('proof-11.json')) as Json & { checkpoint: Json };
    expect((await claimOf(r, p)).status).toBe('asserted');
    p.checkpoint.entryHash = flip(p.checkpoint.entryHash as string);
    expect((await claimOf(r, p)).status).toBe('refuted');
  });
});

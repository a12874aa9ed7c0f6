import { describe, expect, it } from 'vitest';
import {
  checkpointSignedPart,
  validateCheckpoint,
  validateInclusionProof,
  validateIssueRequest,
  validateReceipt,
} from '../src';

const good = {
  callId: 'call-1',
  agentId: 'agent:7',
  bucket: 'checkout',
  tool: 'complete_checkout',
  orderId: 'order~42',
  nonce: 'n 0!',
  input: { sku: 'A-1' },
  output: { ok: true },
};

describe('issue request validation', () => {
  it('accepts a good request with bodies or with hashes', () => {
    expect(validateIssueRequest(good).ok).toBe(true);
    const { input: _i, output: _o, ...rest } = good;
    expect(
      validateIssueRequest({ ...rest, inputHash: 'a'.repeat(64), outputHash: 'b'.repeat(64) }).ok,
    ).toBe(true);
  });

  it('reports every bad field at once, with stable codes', () => {
    const result = validateIssueRequest({
      callId: 7,
      agentId: 'x'.repeat(129),
      bucket: 'refund',
      tool: 'bad tool',
      orderId: '',
      nonce: 'tab\there',
      merchantId: 'evil',
      trust_provider_assertions: [1],
      input: { a: 1 },
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const byPath = Object.fromEntries(result.issues.map((i) => [i.path, i.code]));
    expect(byPath).toEqual({
      '/callId': 'invalid_type',
      '/agentId': 'too_long',
      '/bucket': 'invalid_format',
      '/tool': 'invalid_format',
      '/orderId': 'too_short',
      '/nonce': 'invalid_format',
      '/merchantId': 'unknown_member',
      '/trust_provider_assertions/0': 'invalid_type',
      '/output': 'required',
    });
  });

  it('refuses lone surrogates anywhere in a body, and mixing bodies with hashes', () => {
    const surrogate = validateIssueRequest({ ...good, input: { note: 'x\ud800' } });
    expect(surrogate.ok === false && surrogate.issues[0]).toMatchObject({
      path: '/input/note',
      code: 'not_i_json',
    });
    const both = validateIssueRequest({ ...good, inputHash: 'a'.repeat(64) });
    expect(both.ok === false && both.issues.map((i) => i.code)).toContain('conflict');
    const neither = validateIssueRequest({
      callId: 'c',
      agentId: 'a',
      bucket: 'customer',
      tool: 't',
    });
    expect(neither.ok === false && neither.issues).toEqual([
      expect.objectContaining({ code: 'required' }),
    ]);
  });

  it('refuses a body that is not an object', () => {
    for (const body of [null, [], 'x', 3]) {
      expect(validateIssueRequest(body)).toMatchObject({
        ok: false,
        issues: [{ code: 'invalid_type' }],
      });
    }
  });
});

describe('receipt validation', () => {
  const receipt = {
    schemaVersion: '1',
    id: 'trcpt_01JD5Z7Q8M3V9K2X4N6P8R0T2W',
    merchantId: 'acme',
    callId: 'c1',
    agentId: 'a1',
    bucket: 'discovery',
    tool: 'search',
    inputHash: 'a'.repeat(64),
    outputHash: 'b'.repeat(64),
    createdAt: '2026-11-20T10:15:30.123Z',
    signingKeyKid: 'acme-2026Q4-2',
    jwksSnapshotUrl: 'https://q.example/.well-known/jwks/snapshot/2026-11.json',
    jws: 'eyJ..c2ln',
    legal_posture: 'signed',
    timestamp: null,
    chain: { seq: 1, prevHash: '0'.repeat(64), entryHash: 'c'.repeat(64) },
  };

  it('accepts a well-formed receipt', () => {
    expect(validateReceipt(receipt)).toMatchObject({ ok: true });
  });

  it.each([
    ['createdAt', '2026-11-20T10:15:30Z', 'invalid_format'],
    ['createdAt', '2026-02-30T10:15:30.123Z', 'invalid_format'],
    ['createdAt', '2026-11-20T10:15:30.123+01:00', 'invalid_format'],
    ['inputHash', 'A'.repeat(64), 'invalid_format'],
    ['id', 'trcpt_01JD5Z7Q8M3V9K2X4N6P8R0T2I', 'invalid_format'],
    ['signingKeyKid', 'acme-2026Q5', 'invalid_format'],
    ['jwksSnapshotUrl', '/relative.json', 'invalid_format'],
    ['schemaVersion', '2', 'invalid_format'],
    ['extra', 1, 'unknown_member'],
  ])('refuses %s = %j', (name, value, code) => {
    const result = validateReceipt({ ...receipt, [name]: value });
    expect(result.ok === false && result.issues.map((i) => i.code)).toContain(code);
  });

  it('checks the envelope: posture agrees with the timestamp, chain is well formed', () => {
    const wrongPosture = validateReceipt({
      ...receipt,
      legal_posture: 'ades_candidate_timestamped',
    });
    expect(wrongPosture.ok === false && wrongPosture.issues[0]?.code).toBe('conflict');
    const badChain = validateReceipt({
      ...receipt,
      chain: { seq: 0, prevHash: 'x', entryHash: 'c'.repeat(64) },
    });
    expect(badChain.ok === false && badChain.issues.map((i) => i.path)).toEqual([
      '/chain/seq',
      '/chain/prevHash',
    ]);
  });
});

describe('receipt validation with an optional envelope (SPEC 1.1 §1)', () => {
  const full = {
    schemaVersion: '1',
    id: 'trcpt_01JD5Z7Q8M3V9K2X4N6P8R0T2W',
    merchantId: 'acme',
    callId: 'c1',
    agentId: 'a1',
    bucket: 'discovery',
    tool: 'search',
    inputHash: 'a'.repeat(64),
    outputHash: 'b'.repeat(64),
    createdAt: '2026-11-20T10:15:30.123Z',
    signingKeyKid: 'acme-2026Q4',
    jwksSnapshotUrl: 'https://q.example/.well-known/jwks/snapshot/2026-11.json',
    jws: 'eyJ..c2ln',
    legal_posture: 'signed',
    timestamp: null,
    chain: { seq: 1, prevHash: '0'.repeat(64), entryHash: 'c'.repeat(64) },
  };
  const { jws: _j, legal_posture: _l, timestamp: _t, chain: _c, ...signedOnly } = full;

  it('by default the whole envelope is required (a full receipt, as the API returns it)', () => {
    const result = validateReceipt(signedOnly);
    expect(result.ok === false && result.issues.map((i) => i.path)).toEqual([
      '/jws',
      '/legal_posture',
      '/timestamp',
      '/chain',
    ]);
  });

  it('accepts the signed members alone, or with any envelope members', () => {
    expect(validateReceipt(signedOnly, { envelope: 'optional' }).ok).toBe(true);
    expect(validateReceipt({ ...signedOnly, jws: full.jws }, { envelope: 'optional' }).ok).toBe(
      true,
    );
    expect(validateReceipt(full, { envelope: 'optional' }).ok).toBe(true);
  });

  it('still checks an envelope member that is present, under its own path', () => {
    const result = validateReceipt(
      { ...signedOnly, chain: { seq: 0, prevHash: 'x', entryHash: 'c'.repeat(64) } },
      { envelope: 'optional' },
    );
    expect(result.ok === false && result.issues.map((i) => i.path)).toEqual([
      '/chain/seq',
      '/chain/prevHash',
    ]);
    const attached = validateReceipt(
      { ...signedOnly, jws: 'eyJ.cGF5bG9hZA.c2ln' },
      { envelope: 'optional' },
    );
    expect(attached.ok === false && attached.issues.map((i) => i.path)).toEqual(['/jws']);
  });

  it('still refuses unknown members and malformed signed members', () => {
    const result = validateReceipt({ ...signedOnly, extra: 'x' }, { envelope: 'optional' });
    expect(result.ok === false && result.issues.map((i) => i.code)).toEqual(['unknown_member']);
  });

  it("leaves whose key a kid is to the key history: another merchant's kid is well formed", () => {
    // SPEC §5 decides key ownership by the snapshot key's merchantId (key_valid_at_issuance).
    expect(validateReceipt({ ...full, signingKeyKid: 'other-2026Q4' }).ok).toBe(true);
  });
});

describe('checkpoints and inclusion proofs (SPEC §6, §6.1)', () => {
  const checkpoint = {
    merchantId: 'acme',
    seq: 11,
    entryHash: 'c'.repeat(64),
    rootHash: 'd'.repeat(64),
    createdAt: '2026-08-15T10:15:00.000Z',
    signingKeyKid: 'acme-2026Q3',
    jws: 'eyJhbGciOiJFZERTQSJ9..c2ln',
    timestamp: null,
  };
  const proof = {
    receiptId: 'trcpt_01J5C0NF000000000000000006',
    seq: 6,
    treeSize: 11,
    auditPath: ['a'.repeat(64), 'b'.repeat(64)],
    checkpoint,
  };
  const paths = (result: { ok: boolean; issues?: { path: string }[] }) =>
    result.ok ? [] : (result.issues ?? []).map((i) => i.path);

  it('a checkpoint carries rootHash, 64 lowercase hex', () => {
    expect(validateCheckpoint(checkpoint).ok).toBe(true);
    const { rootHash: _, ...without } = checkpoint;
    expect(paths(validateCheckpoint(without))).toEqual(['/rootHash']);
    expect(paths(validateCheckpoint({ ...checkpoint, rootHash: 'D'.repeat(64) }))).toEqual([
      '/rootHash',
    ]);
    expect(paths(validateCheckpoint({ ...checkpoint, rootHash: 'd'.repeat(63) }))).toEqual([
      '/rootHash',
    ]);
  });

  it('a checkpoint is read as §1 reads a receipt: unknown members are signed content, an absent timestamp is none, createdAt any RFC 3339 time', () => {
    const extra = validateCheckpoint({ ...checkpoint, logId: 'x' });
    expect(extra.ok && checkpointSignedPart(extra.value)).toMatchObject({ logId: 'x' });
    const { timestamp: _, ...untimed } = checkpoint;
    const read = validateCheckpoint(untimed);
    expect(read.ok && read.value.timestamp).toBeNull();
    for (const createdAt of [
      '2026-08-15T10:15:00Z',
      '2026-08-15T12:15:00.123456+02:00',
      '2026-08-15t10:15:00z',
    ])
      expect(validateCheckpoint({ ...checkpoint, createdAt }).ok).toBe(true);
    for (const createdAt of ['2026-08-15', '2026-02-30T10:15:00Z', 1_700_000_000_000])
      expect(paths(validateCheckpoint({ ...checkpoint, createdAt }))).toEqual(['/createdAt']);
  });

  it('accepts a well-formed inclusion proof, ignoring members it does not know', () => {
    expect(validateInclusionProof(proof).ok).toBe(true);
    expect(validateInclusionProof({ ...proof, auditPath: [], seq: 11 }).ok).toBe(true);
    expect(validateInclusionProof({ ...proof, note: 'x' }).ok).toBe(true);
  });

  it('reports what is wrong with a proof, under its path', () => {
    expect(paths(validateInclusionProof(null))).toEqual(['']);
    expect(paths(validateInclusionProof([]))).toEqual(['']);
    expect(paths(validateInclusionProof({}))).toEqual([
      '/receiptId',
      '/seq',
      '/treeSize',
      '/auditPath',
      '/checkpoint',
    ]);
    expect(paths(validateInclusionProof({ ...proof, seq: 12 }))).toEqual(['/treeSize']);
    expect(paths(validateInclusionProof({ ...proof, seq: 0 }))).toEqual(['/seq']);
    expect(paths(validateInclusionProof({ ...proof, treeSize: 10 }))).toEqual(['/treeSize']);
    expect(paths(validateInclusionProof({ ...proof, treeSize: 2 ** 53 }))).toEqual(['/treeSize']);
    expect(paths(validateInclusionProof({ ...proof, auditPath: 'x' }))).toEqual(['/auditPath']);
    expect(paths(validateInclusionProof({ ...proof, auditPath: ['A'.repeat(64), 7] }))).toEqual([
      '/auditPath/0',
      '/auditPath/1',
    ]);
    expect(
      paths(validateInclusionProof({ ...proof, auditPath: Array(65).fill('a'.repeat(64)) })),
    ).toEqual(['/auditPath']);
    expect(paths(validateInclusionProof({ ...proof, receiptId: 'rcpt_1' }))).toEqual([
      '/receiptId',
    ]);
    const { rootHash: _, ...noRoot } = checkpoint;
    expect(paths(validateInclusionProof({ ...proof, checkpoint: noRoot }))).toEqual([
      '/checkpoint/rootHash',
    ]);
  });
});

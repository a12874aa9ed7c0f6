import { createHash, createPublicKey, verify } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BundleError, DEFAULT_LIMITS, verifyBundle } from '@quittance/verifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, makeFixture } from './fixture';
import {
  centralDirectory,
  extractAll,
  FIELD,
  handMadeZip,
  zeroBomb,
  zipEntries,
} from './zip-tools';

let f: Fixture;
let entries: [string, Buffer][];
beforeAll(async () => {
  f = await makeFixture();
  entries = (await extractAll(f.path)) as [string, Buffer][];
});
afterAll(() => rm(f.dir, { recursive: true, force: true }));

const text = (name: string) => entries.find(([n]) => n === name)?.[1].toString('utf8') ?? '';
const lines = (name: string) => text(name).trim().split('\n');
let serial = 0;

/** The bundle with one entry replaced (or removed, with `null`), verified. */
async function edited(changes: Record<string, string | null>) {
  const path = join(f.dir, `edited-${++serial}.zip`);
  await zipEntries(
    path,
    entries
      .filter(([name]) => changes[name] !== null)
      .map(([name, data]) => [
        name,
        typeof changes[name] === 'string' ? Buffer.from(changes[name] as string) : data,
      ]),
  );
  return verifyBundle(path, { publisher: f.publisher, keepReceipts: true });
}

const withLine = (name: string, i: number, line: string) => {
  const all = lines(name);
  all[i] = line;
  return `${all.join('\n')}\n`;
};

describe('VERIFY.md', () => {
  it('names a command that downloads nothing and says what is not in the bundle', () => {
    const md = text('VERIFY.md');
    // `npx quittance` outside the source's folder fetches whatever a registry calls quittance.
    expect(md).toContain('npx --no quittance verify BUNDLE.zip --publisher PUBLISHER.json');
    expect(md).not.toMatch(/^\s+npx quittance/m);
    expect(entries.some(([n]) => n.startsWith('tsa/'))).toBe(false);
    expect(md).toContain('not in this bundle: no Time-Stamp Authority certificate');
    expect(md).not.toContain('timestamped checkpoints');
  });

  it("step 2 by hand works as written: the manifest's canonical form, not its bytes, is signed", () => {
    const md = text('VERIFY.md');
    expect(md).toContain("hashing a file's bytes gives another digest");
    expect(md).toContain('every file but `manifest.json` and `manifest.jws`');
    // RFC 8785 for plain JSON (no numbers that need ES formatting here), written apart from
    // the format package so that the paragraph is checked, not the package against itself.
    const jcs = (v: unknown): string =>
      v === null || typeof v !== 'object'
        ? JSON.stringify(v)
        : Array.isArray(v)
          ? `[${v.map(jcs).join(',')}]`
          : `{${Object.keys(v)
              .sort()
              .map((k) => `${JSON.stringify(k)}:${jcs((v as Record<string, unknown>)[k])}`)
              .join(',')}}`;
    const manifest = text('manifest.json');
    const digest = (bytes: string) => createHash('sha256').update(bytes).digest('hex');
    const [header, , signature] = text('manifest.jws').trim().split('.');
    const { kid } = JSON.parse(Buffer.from(header as string, 'base64url').toString());
    const keys = entries
      .filter(([n]) => n.startsWith('jwks/'))
      .flatMap(([, data]) => JSON.parse(data.toString()).keys as { kid: string; x: string }[]);
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: keys.find((k) => k.kid === kid)?.x as string },
      format: 'jwk',
    });
    const verifies = (statement: string) =>
      verify(
        null,
        Buffer.from(`${header}.${Buffer.from(statement).toString('base64url')}`),
        key,
        Buffer.from(signature as string, 'base64url'),
      );
    expect(verifies(jcs({ sha256: digest(jcs(JSON.parse(manifest))) }))).toBe(true);
    // The file's own bytes are not what is signed.
    expect(verifies(jcs({ sha256: digest(manifest) }))).toBe(false);
    const listed = JSON.parse(manifest).files.map((file: { path: string }) => file.path);
    expect(listed).not.toContain('manifest.json');
    expect(listed).not.toContain('manifest.jws');
  });
});

describe('bodies.jsonl (SPEC 1.1 §9)', () => {
  it('holds one line per receipt with bodies, in chain order; every claim is asserted', async () => {
    expect(entries.map(([n]) => n)).toContain('bodies.jsonl');
    expect(entries.some(([n]) => n.startsWith('bodies/'))).toBe(false);
    const bodyIds = lines('bodies.jsonl').map((l) => JSON.parse(l).id);
    const receiptIds = lines('receipts.jsonl').map((l) => JSON.parse(l).id);
    expect(bodyIds).toEqual(receiptIds.filter((_, i) => i !== 3));
    expect(Object.keys(JSON.parse(lines('bodies.jsonl')[0] as string))).toEqual([
      'id',
      'input',
      'output',
    ]);
    const manifest = JSON.parse(text('manifest.json'));
    expect(manifest.counts).toMatchObject({ bodies: 4, bodiesUnavailable: 1 });
    expect(text('VERIFY.md')).toContain('bodies.jsonl');

    const result = await verifyBundle(f.path, { publisher: f.publisher, keepReceipts: true });
    expect(result.ok).toBe(true);
    expect(result.claims.body_matches?.status).toBe('asserted');
    expect(result.counts.body_matches).toEqual({ asserted: 4, refuted: 0, unknown: 1 });
    expect(result.receipts[3]?.claims.body_matches?.status).toBe('unknown');
  });

  it('verifies the same on worker threads (large bundles)', async () => {
    const result = await verifyBundle(f.path, {
      publisher: f.publisher,
      keepReceipts: true,
      workers: 2,
    });
    expect(result.ok).toBe(true);
    expect(result.counts.body_matches).toEqual({ asserted: 4, refuted: 0, unknown: 1 });
  });

  it('an altered body is refuted for its receipt', async () => {
    const body = JSON.parse(lines('bodies.jsonl')[1] as string);
    body.output = { ok: false };
    const result = await edited({
      'bodies.jsonl': withLine('bodies.jsonl', 1, JSON.stringify(body)),
    });
    expect(result.ok).toBe(false);
    expect(result.receipts[1]?.claims.body_matches).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('output'),
    });
    expect(result.claims.files_intact?.reason).toContain('bodies.jsonl does not match');
  });

  it('lines out of order, repeated, without a member or naming no receipt are refuted', async () => {
    const all = lines('bodies.jsonl');
    const swapped = await edited({
      'bodies.jsonl': `${[all[1], all[0], all[2], all[3]].join('\n')}\n`,
    });
    expect(swapped.claims.body_matches).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('out of chain order'),
    });

    const noOutput = JSON.parse(all[2] as string);
    delete noOutput.output;
    const missing = await edited({
      'bodies.jsonl': withLine('bodies.jsonl', 2, JSON.stringify(noOutput)),
    });
    expect(missing.receipts[2]?.claims.body_matches).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('has no output'),
    });

    const stranger = await edited({
      'bodies.jsonl': `${text('bodies.jsonl')}{"id":"trcpt_nobody","input":1,"output":2}\nnot json\n`,
    });
    expect(stranger.claims.body_matches?.reason).toMatch(/trcpt_nobody.*not a receipt/);
    expect(stranger.claims.body_matches?.reason).toContain('line 6 is not JSON');
  });
});

describe('content that cannot be parsed refutes the claim it is evidence for (SPEC §10)', () => {
  it('a chain.jsonl line that is not JSON: chain_complete, with a full report', async () => {
    const result = await edited({ 'chain.jsonl': withLine('chain.jsonl', 1, '{"seq": 2, oops') });
    expect(result.ok).toBe(false);
    expect(result.claims.chain_complete).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('chain.jsonl line 2 is not JSON'),
    });
    expect(result.receiptCount).toBe(5);
    expect(result.claims.manifest_valid?.status).toBe('asserted');
  });

  it('a chain entry without a member, or not an object', async () => {
    const entry = JSON.parse(lines('chain.jsonl')[2] as string);
    delete entry.receiptHash;
    const result = await edited({
      'chain.jsonl': withLine('chain.jsonl', 2, JSON.stringify(entry)),
    });
    expect(result.claims.chain_complete?.reason).toContain('needs receiptHash');
    const scalar = await edited({ 'chain.jsonl': withLine('chain.jsonl', 2, '42') });
    expect(scalar.claims.chain_complete?.reason).toContain('line 3 is 42');
  });

  it('a checkpoint missing a member: checkpoints_valid', async () => {
    const checkpoint = JSON.parse(lines('checkpoints.jsonl')[0] as string);
    delete checkpoint.entryHash;
    const result = await edited({
      'checkpoints.jsonl': withLine('checkpoints.jsonl', 0, JSON.stringify(checkpoint)),
    });
    expect(result.claims.checkpoints_valid).toMatchObject({
      status: 'refuted',
      reason: expect.stringContaining('is not a checkpoint'),
    });
  });

  it('a truncated receipts.jsonl: the cut receipt, the count and the file hash', async () => {
    const whole = text('receipts.jsonl');
    const result = await edited({ 'receipts.jsonl': whole.slice(0, whole.length - 200) });
    expect(result.ok).toBe(false);
    expect(result.receiptCount).toBe(5);
    expect(result.firstFailures[0]).toMatchObject({
      claim: 'signature_valid',
      reason: expect.stringContaining('line 5 is not JSON'),
    });
    expect(result.claims.files_intact?.status).toBe('refuted');
  });

  it('receipt lines that are null, an array, or hostile objects', async () => {
    const hostile = '{"id":{"toString":1,"valueOf":1},"chain":{"seq":{"valueOf":1}}}';
    const result = await edited({
      'receipts.jsonl': `null\n[1]\n${hostile}\n${'['.repeat(200_000)}${']'.repeat(200_000)}\n`,
    });
    expect(result.ok).toBe(false);
    expect(result.receiptCount).toBe(4);
    expect(result.counts.signature_valid?.refuted).toBe(4);
    expect(result.firstFailures.map((x) => x.reason).join(' ')).toContain(
      'nests deeper than 1000 levels',
    );
  });

  it('a manifest that is not JSON, nested 100,000 deep, or the wrong shape: manifest_valid', async () => {
    for (const [manifest, reason] of [
      ['{"bundleId": ', 'is not JSON'],
      [`${'['.repeat(100_000)}${']'.repeat(100_000)}`, 'nests deeper than 1000 levels'],
      [JSON.stringify({ ...JSON.parse(text('manifest.json')), files: 'all' }), 'files must be'],
    ] as const) {
      const result = await edited({ 'manifest.json': manifest });
      expect(result.ok).toBe(false);
      expect(result.claims.manifest_valid).toMatchObject({
        status: 'refuted',
        reason: expect.stringContaining(reason),
      });
      expect(result.claims.files_intact?.reason).toContain('no usable manifest');
      expect(result.receiptCount).toBe(5);
    }
  });

  it('a bad jwks file: snapshot_authentic (and every key claim)', async () => {
    for (const snapshot of ['not json', 'null', '{"period": "2026-11", "version": 1}']) {
      const result = await edited({ 'jwks/2026-11.json': snapshot });
      expect(result.ok).toBe(false);
      expect(result.claims.snapshot_authentic?.status).toBe('refuted');
      expect(result.counts.key_valid_at_issuance?.refuted).toBe(5);
    }
  });

  it('a snapshot the publisher did not sign proves nothing about the keys: receipts and checkpoints alike unknown', async () => {
    const snapshot = JSON.parse(text('jwks/2026-11.json'));
    snapshot.note = 'edited after signing';
    const result = await edited({ 'jwks/2026-11.json': JSON.stringify(snapshot) });
    expect(result.ok).toBe(false);
    expect(result.claims.snapshot_authentic?.status).toBe('refuted');
    expect(result.counts.key_valid_at_issuance?.unknown).toBe(5);
    // It was refuted for the same snapshot a receipt's key is unknown by (an outside check).
    expect(result.claims.checkpoints_valid?.status).toBe('unknown');
  });

  it('tsa/ files that are not PEM, or PEM built to be slow to parse', async () => {
    const started = performance.now();
    const path = join(f.dir, `edited-${++serial}.zip`);
    await zipEntries(path, [
      ...entries,
      ['tsa/0123456789abcdef.pem', Buffer.from('-----BEGIN X-----'.repeat(3_800))],
      [
        'tsa/fedcba9876543210.pem',
        Buffer.from('-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n'),
      ],
    ]);
    const result = await verifyBundle(path, { publisher: f.publisher });
    expect(result.claims.files_intact?.reason).toContain('is not in the manifest');
    expect(result.counts.signature_valid?.asserted).toBe(5);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('a manifest.jws that is not a JWS', async () => {
    const result = await edited({ 'manifest.jws': '{"not":"a jws"}' });
    expect(result.claims.manifest_valid?.status).toBe('refuted');
  });
});

describe('zips that cannot be read are refused before they are inflated', () => {
  it('an entry whose central header declares 2 GiB', async () => {
    const zip = await readFile(f.path);
    const record = centralDirectory(zip).records.find((r) => r.name === 'receipts.jsonl');
    zip.writeUInt32LE(2 ** 31, (record?.central as number) + FIELD.central.uncompressedSize);
    const path = join(f.dir, 'declares-2gib.zip');
    await writeFile(path, zip);
    const error = await verifyBundle(path, { publisher: f.publisher }).catch((e) => e);
    expect(error).toBeInstanceOf(BundleError);
    expect(error).toMatchObject({ code: 'too_large' });
    expect(error.message).toContain('receipts.jsonl declares 2 GiB');
  });

  it('a local header that contradicts the central directory is refuted (tools would disagree)', async () => {
    const zip = await readFile(f.path);
    const record = centralDirectory(zip).records.find((r) => r.name === 'receipts.jsonl');
    zip.write('R', (record?.local as number) + 30); // "Receipts.jsonl" in the local header only
    const path = join(f.dir, 'local-name.zip');
    await writeFile(path, zip);
    const result = await verifyBundle(path, { publisher: f.publisher });
    expect(result.ok).toBe(false);
    expect(result.claims.files_intact?.reason).toContain(
      'receipts.jsonl: its local header says name "Receipts.jsonl"',
    );
  });

  it('a zip bomb: 2 MB that inflates to 2 GiB, declared honestly or not', async () => {
    const bomb = zeroBomb(2048);
    expect(bomb.length).toBeLessThan(3_000_000);
    const honest = join(f.dir, 'bomb-honest.zip');
    await writeFile(honest, handMadeZip('receipts.jsonl', bomb, 2 ** 32 - 1));
    await expect(verifyBundle(honest, { publisher: f.publisher })).rejects.toMatchObject({
      code: 'too_large',
    });
    // Lying about the size: inflation stops at the declared size, memory stays flat.
    const before = process.memoryUsage().rss;
    const lying = join(f.dir, 'bomb-lying.zip');
    await writeFile(lying, handMadeZip('receipts.jsonl', bomb, 1_000_000));
    const error = await verifyBundle(lying, { publisher: f.publisher }).catch((e) => e);
    expect(error).toBeInstanceOf(BundleError);
    expect(error.message).toMatch(/receipts.jsonl cannot be inflated: too many bytes/);
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
  });

  it('an entry up to the declared cap is inflated under the running caps', async () => {
    // 64 MiB of zeros declared as such, with caps of 16 MiB: refused while inflating.
    const path = join(f.dir, 'bomb-64.zip');
    await writeFile(path, handMadeZip('receipts.jsonl', zeroBomb(64), 64 * 1024 * 1024));
    const error = await verifyBundle(path, {
      publisher: f.publisher,
      limits: { maxEntryBytes: 64 * 1024 * 1024, maxTotalBytes: 16 * 1024 * 1024 },
    }).catch((e) => e);
    expect(error).toMatchObject({ code: 'too_large' });
    expect(DEFAULT_LIMITS.maxEntryBytes).toBeLessThan(2 ** 31);
    expect(DEFAULT_LIMITS.maxTotalBytes).toBeLessThan(2 ** 31);
  });

  it('not a zip, truncated, a directory, a missing file', async () => {
    const zip = await readFile(f.path);
    const cases: [string, Buffer | 'dir' | 'missing'][] = [
      ['empty.zip', Buffer.alloc(0)],
      ['text.zip', Buffer.from('hello\n')],
      ['truncated.zip', zip.subarray(0, zip.length - 30)],
      ['dir', 'dir'],
      ['missing.zip', 'missing'],
    ];
    for (const [name, content] of cases) {
      const path = content === 'dir' ? f.dir : join(f.dir, name);
      if (Buffer.isBuffer(content)) await writeFile(path, content);
      await expect(verifyBundle(path, { publisher: f.publisher })).rejects.toMatchObject({
        name: 'BundleError',
        code: 'unreadable',
      });
    }
  });
});

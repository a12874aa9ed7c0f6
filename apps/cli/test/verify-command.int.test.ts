import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, makeFixture } from '../../../packages/bundle/test/fixture';
import {
  centralDirectory,
  extractAll,
  FIELD,
  handMadeZip,
  zeroBomb,
  zipEntries,
} from '../../../packages/bundle/test/zip-tools';
import { bin, root, run } from './cli-bin';

const external = join(root, 'test/fixtures/external');

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

describe('quittance verify RECEIPT.json', () => {
  const args = (dir: string) => [
    'verify',
    join(dir, 'receipt.json'),
    '--jwks',
    join(dir, 'snapshot.json'),
    '--publisher',
    join(dir, 'publisher.json'),
  ];

  it('passes a receipt and snapshot made outside this code (openssl and the SPEC only)', async () => {
    const result = await quittance(...args(external));
    expect(result.stdout).toMatch(/ok +signature_valid +asserted/);
    expect(result.stdout).toMatch(/ok +snapshot_authentic +asserted/);
    expect(result.stdout).toMatch(/^PASS /m);
    expect(result.code).toBe(0);
  });

  it('checks a timestamp an outside TSA signed with Ed25519 (RFC 8419, Bouncy Castle)', async () => {
    const stamped = join(root, 'test/fixtures/external-tsa-ed25519');
    const withAnchor = (anchor: string) =>
      quittance(
        'verify',
        join(stamped, 'receipt.json'),
        '--jwks',
        join(external, 'snapshot.json'),
        '--publisher',
        join(external, 'publisher.json'),
        '--tsa-trust',
        anchor,
      );
    const result = await withAnchor(join(stamped, 'tsa-ca.pem'));
    expect(result.stdout).toMatch(/ok +timestamp_valid +asserted RFC 3161 token by CN=Outside/);
    expect(result.stdout).toMatch(/^PASS /m);
    expect(result.code).toBe(0);
    const other = await withAnchor(join(root, 'packages/tsp/test/fixtures/openssl-tsa-ca.pem'));
    expect(other.stdout).toMatch(/FAIL timestamp_valid +refuted .*untrusted_chain/);
    expect(other.code).toBe(1);
  });

  it('passes freshly generated outside evidence too (new keys each run)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'quittance-external-'));
    await run('bash', [join(external, 'make.sh'), dir]);
    const result = await quittance(...args(dir), '--json');
    const report = JSON.parse(result.stdout);
    expect(report.ok).toBe(true);
    expect(report.receipts[0].claims.key_valid_at_issuance.status).toBe('asserted');
    expect(result.code).toBe(0);
  });

  it('reads files that start with a UTF-8 byte order mark, as the verifier page does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'quittance-bom-'));
    for (const name of ['receipt.json', 'snapshot.json', 'publisher.json'])
      await writeFile(
        join(dir, name),
        Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), await readFile(join(external, name))]),
      );
    const result = await quittance(...args(dir));
    expect(result.stdout).toMatch(/ok +snapshot_authentic +asserted/);
    expect(result.code).toBe(0);
  });

  it('fails a tampered receipt with exit status 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'quittance-tamper-'));
    const receipt = JSON.parse(await readFile(join(external, 'receipt.json'), 'utf8'));
    await writeFile(join(dir, 'receipt.json'), JSON.stringify({ ...receipt, orderId: 'order-43' }));
    for (const name of ['snapshot.json', 'publisher.json']) {
      await writeFile(join(dir, name), await readFile(join(external, name)));
    }
    const result = await quittance(...args(dir), '--json');
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({
      ok: false,
      receipts: [{ claims: { signature_valid: { status: 'refuted' } } }],
    });
    const human = await quittance(...args(dir));
    expect(human.stdout).toMatch(/FAIL +signature_valid +refuted/);
    expect(human.stdout).toMatch(/^FAIL /m);
  });

  it('exits 2 with a clear message on unreadable input', async () => {
    const missing = await quittance(
      'verify',
      '/nonexistent.json',
      '--jwks',
      join(external, 'snapshot.json'),
    );
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read /nonexistent.json: ENOENT');

    const dir = await mkdtemp(join(tmpdir(), 'quittance-bad-'));
    await writeFile(join(dir, 'garbage.json'), '{not json');
    const garbage = await quittance(
      'verify',
      join(external, 'receipt.json'),
      '--jwks',
      join(dir, 'garbage.json'),
    );
    expect(garbage.code).toBe(2);
    expect(garbage.stderr).toContain('is not JSON');

    const noJwks = await quittance('verify', join(external, 'receipt.json'));
    expect(noJwks.code).toBe(2);
    expect(noJwks.stderr).toContain('--jwks');

    const badPublisher = await quittance(
      ...args(external).slice(0, 5),
      join(external, 'receipt.json'),
    );
    expect(badPublisher.code).toBe(2);
    expect(badPublisher.stderr).toContain('publisher key');

    // A member twice: JSON.parse keeps the last value, other readers the first.
    const receiptText = await readFile(join(external, 'receipt.json'), 'utf8');
    await writeFile(join(dir, 'twice.json'), receiptText.replace('{', '{"tool":"refund_all",'));
    const twice = await quittance('verify', join(dir, 'twice.json'), ...args(external).slice(2));
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain('member "tool" occurs twice in one object');

    // A trust file with a damaged block was taken as is, and refuted every timestamp.
    await writeFile(
      join(dir, 'tsa.pem'),
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
    );
    const junkTrust = await quittance(...args(external), '--tsa-trust', join(dir, 'tsa.pem'));
    expect(junkTrust.code).toBe(2);
    expect(junkTrust.stderr).toContain(`TSA trust file ${join(dir, 'tsa.pem')}`);
    expect(junkTrust.stderr).toMatch(/certificate \d/);
  });
});

/** Unreadable input: exit status 2 and one readable line on stderr, never a stack. */
function expectOneLine(result: { code: number; stderr: string; stdout: string }, text: string) {
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.stderr.trim().split('\n')).toEqual([expect.stringContaining(text)]);
  expect(result.code).toBe(2);
}

describe('quittance verify on hostile or broken input', () => {
  let f: Fixture;
  let publisher: string;
  let dir: string;
  beforeAll(async () => {
    f = await makeFixture();
    dir = f.dir;
    publisher = join(dir, 'publisher.json');
    await writeFile(publisher, JSON.stringify(f.publisherJwks));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  const bundle = (path: string, ...more: string[]) =>
    quittance('verify', path, '--publisher', publisher, ...more);

  it('a chain.jsonl line that is not JSON: exit 1 with the full report', async () => {
    const entries = (await extractAll(f.path)) as [string, Buffer][];
    const path = join(dir, 'chain-not-json.zip');
    await zipEntries(
      path,
      entries.map(([name, data]) => [
        name,
        name === 'chain.jsonl' ? Buffer.from(data.toString().replace(/\n\{/, '\n{oops')) : data,
      ]),
    );
    const [human, json] = await Promise.all([bundle(path), bundle(path, '--json')]);
    expect(human.stderr).not.toMatch(/^\s+at /m);
    expect(human.stdout).toMatch(/FAIL +chain_complete +refuted .*line 2 is not JSON/);
    expect(human.stdout).toMatch(/ok +manifest_valid +asserted/);
    expect(human.stdout).toMatch(/^receipts: 5$/m);
    expect(human.stdout).toMatch(/^FAIL /m);
    expect(human.code).toBe(1);
    const report = JSON.parse(json.stdout);
    expect(report.ok).toBe(false);
    expect(report.receipts).toHaveLength(5);
    expect(json.code).toBe(1);
  }, 120_000);

  it('an export says log_consistent; an order evidence bundle says which order, with its proofs', async () => {
    const [exported, evidence] = await Promise.all([
      bundle(f.path),
      f
        .writeEvidence('evidence.zip')
        .then((path) => Promise.all([bundle(path), bundle(path, '--json')])),
    ]);
    expect(exported.stdout).toMatch(/ok +log_consistent +asserted .*2 checkpoints recomputes/);
    expect(exported.code).toBe(0);
    const [human, json] = evidence;
    expect(human.stdout).toMatch(/^order evidence for order order-1 with 2 receipts$/m);
    expect(human.stdout).toMatch(/ok +included_in_log +asserted/);
    expect(human.stdout).not.toMatch(/chain_complete|log_consistent/);
    expect(human.stdout).toMatch(/^PASS /m);
    expect(human.code).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({
      ok: true,
      bundle: { kind: 'order-evidence', orderId: 'order-1' },
      claims: { included_in_log: { status: 'asserted' } },
    });
    expect(report.receipts).toHaveLength(2);
  }, 120_000);

  it('a reader that stops reading (| head): exit 141 at once, no stack', async () => {
    const child = spawn(bin, ['verify', f.path, '--publisher', publisher, '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    // Read the first bytes, then close the pipe, as head -c does.
    child.stdout.once('data', () => child.stdout.destroy());
    const [code] = await once(child, 'close');
    expect(code).toBe(141);
    expect(stderr).toBe('');
  }, 120_000);

  it('zips that declare or inflate too much, and files that are not zips: exit 2, one line', async () => {
    const zip = await readFile(f.path);
    const record = centralDirectory(zip).records.find((r) => r.name === 'receipts.jsonl');
    zip.writeUInt32LE(2 ** 31, (record?.central as number) + FIELD.central.uncompressedSize);
    await writeFile(join(dir, 'declares-2gib.zip'), zip);
    const bomb = zeroBomb(2048);
    await writeFile(join(dir, 'bomb.zip'), handMadeZip('receipts.jsonl', bomb, 2 ** 32 - 1));
    await writeFile(join(dir, 'bomb-lying.zip'), handMadeZip('receipts.jsonl', bomb, 4096));
    await writeFile(join(dir, 'empty.zip'), '');
    await writeFile(join(dir, 'text.zip'), 'hello\n');
    const cases: [string, string][] = [
      ['declares-2gib.zip', 'receipts.jsonl declares 2 GiB; the limit per entry is 1 GiB'],
      ['bomb.zip', 'the limit per entry is 1 GiB'],
      ['bomb-lying.zip', 'receipts.jsonl cannot be inflated'],
      ['empty.zip', 'empty.zip is not a zip file'],
      ['text.zip', 'text.zip is not a zip file'],
      ['missing.zip', 'missing.zip: ENOENT (no such file)'],
    ];
    const results = await Promise.all(cases.map(([name]) => bundle(join(dir, name))));
    results.forEach((result, i) => {
      expectOneLine(result, (cases[i] as [string, string])[1]);
    });
    expectOneLine(await bundle(dir), 'is a directory');
    const json = await bundle(join(dir, 'bomb.zip'), '--json');
    expectOneLine(json, 'the limit per entry');
    expect(json.stdout).toBe('');
  }, 120_000);

  it('an empty receipt file or [] is not a PASS; deep nesting does not blow the stack', async () => {
    await writeFile(join(dir, 'empty.json'), '');
    await writeFile(join(dir, 'none.json'), '[]\n');
    await writeFile(join(dir, 'api.json'), '{"receipts": []}');
    await writeFile(join(dir, 'deep.json'), `${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    await writeFile(
      join(dir, 'deep.jsonl'),
      `{}\n${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}\n`,
    );
    const snapshot = join(external, 'snapshot.json');
    const [empty, none, api, deep, deepLines, deepJwks] = await Promise.all([
      quittance('verify', join(dir, 'empty.json'), '--jwks', snapshot),
      quittance('verify', join(dir, 'none.json'), '--jwks', snapshot),
      quittance('verify', join(dir, 'api.json'), '--jwks', snapshot),
      quittance('verify', join(dir, 'deep.json'), '--jwks', snapshot),
      quittance('verify', join(dir, 'deep.jsonl'), '--jwks', snapshot),
      quittance('verify', join(external, 'receipt.json'), '--jwks', join(dir, 'deep.json')),
    ]);
    expectOneLine(empty, `no receipt in ${join(dir, 'empty.json')}`);
    expectOneLine(none, `no receipt in ${join(dir, 'none.json')}`);
    expectOneLine(api, 'no receipt in');
    for (const result of [empty, none, api]) expect(result.stdout).not.toMatch(/PASS/);
    expectOneLine(deep, 'nests JSON deeper than 1000 levels');
    expectOneLine(deepLines, 'nests JSON deeper than 1000 levels');
    expectOneLine(deepJwks, 'nests JSON deeper than 1000 levels');
  }, 120_000);

  it('a receipt file of more than 50,000 receipts is refused at once, with the way out', async () => {
    // 150 KB: a few hundred thousand of these took the command line past 4 GB.
    await writeFile(join(dir, 'many.jsonl'), '{}\n'.repeat(50_001));
    const many = await quittance(
      'verify',
      join(dir, 'many.jsonl'),
      '--jwks',
      join(external, 'snapshot.json'),
    );
    expectOneLine(many, 'holds 50,001 receipts, more than 50,000: verify them as an export bundle');
  }, 120_000);
});

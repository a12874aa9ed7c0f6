import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');
const bin = join(root, 'node_modules/.bin/quittance');
const external = join(root, 'test/fixtures/external');
const run = promisify(execFile);

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

  it('passes freshly generated outside evidence too (new keys each run)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'quittance-external-'));
    await run('bash', [join(external, 'make.sh'), dir]);
    const result = await quittance(...args(dir), '--json');
    const report = JSON.parse(result.stdout);
    expect(report.ok).toBe(true);
    expect(report.receipts[0].claims.key_valid_at_issuance.status).toBe('asserted');
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
  });
});

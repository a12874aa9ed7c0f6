import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { wholeNumber } from '../src/usage';
import { bin, run } from './cli-bin';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('whole numbers on the command line and in the environment', () => {
  const bounds = { min: 1, max: 64, fallback: 2 };
  it('takes decimal digits within bounds, and the fallback when absent', () => {
    expect(wholeNumber('--n', '1', bounds)).toBe(1);
    expect(wholeNumber('--n', '064', bounds)).toBe(64);
    expect(wholeNumber('--n', undefined, bounds)).toBe(2);
  });
  it.each(['0', '65', '0x10', '1e1', '1.5', '-1', ' 8', '8 ', '', 'two', '99999999999999999'])(
    'refuses %j with the name and the bounds',
    (value) => {
      expect(() => wholeNumber('--n', value, bounds)).toThrow(
        `--n must be a whole number from 1 to 64, not ${JSON.stringify(value)}`,
      );
    },
  );
});

describe('quittance stack with a bad count or port', () => {
  it.each([
    [['--apis=-1'], {}, /--apis must be a whole number from 1 to 64, not "-1"/],
    [['--apis', 'x'], {}, /--apis must be a whole number/],
    [['--workers', '0x2'], {}, /--workers must be a whole number from 0 to 64/],
    [[], { PORT: '65535' }, /PORT must be a whole number from 1 to 65534/],
    [[], { PORT: '80a' }, /PORT must be a whole number/],
  ] as const)('%j %j: exit 2, the reason first, nothing started', async (args, env, message) => {
    const dir = await mkdtemp(join(tmpdir(), 'quittance-stack-usage-'));
    dirs.push(dir);
    const result = await run(bin, ['stack', ...args], {
      env: { ...process.env, ...env, QUITTANCE_DATA_DIR: join(dir, 'stack') },
      timeout: 20_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(result.code).toBe(2);
    // The reason on the first line, then the usage text, as every usage error.
    expect(result.stderr.split('\n')[0]).toMatch(message);
    // Checked before anything starts: no data folder, no S3 server's objects.
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('--help after a command', () => {
  it.each([
    [['verify', '--help'], 'quittance verify RECEIPT.json'],
    [['monitor', '--help'], 'monitor --url BASE_URL'],
    [['admin', '--help'], 'admin merchants create'],
    [['admin', 'signing-keys', '--help'], 'admin signing-keys revoke KID'],
    [['admin', 'api-keys', 'create', '-h'], 'admin api-keys create'],
  ])('%j prints that usage, exit 0, and does nothing else', async (args, line) => {
    const { stdout, stderr } = await run(bin, args, { timeout: 20_000 });
    expect(stdout).toMatch(/^usage:/);
    expect(stdout).toContain(line);
    expect(stderr).toBe('');
  });
});

describe('quittance admin finds the token the way it was started', () => {
  // After `npm run stack` the README's admin commands failed: only ./.quittance was looked in.
  it('./.quittance-stack/admin-token when there is no ./.quittance, and says where it looked', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'quittance-admin-token-'));
    dirs.push(cwd);
    const seen: (string | undefined)[] = [];
    const server = createServer((request, response) => {
      seen.push(request.headers.authorization);
      response.writeHead(201, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { QUITTANCE_ADMIN_TOKEN: _, QUITTANCE_DATA_DIR: __, ...env } = process.env;
    const admin = () =>
      run(bin, ['admin', 'merchants', 'create', 'acme', '--jurisdiction', 'EU', '--url', url], {
        cwd,
        env,
        timeout: 20_000,
      }).then(
        () => ({ code: 0, stderr: '' }),
        (error: { code: number; stderr: string }) => error,
      );
    try {
      const missing = await admin();
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('.quittance-stack/admin-token');
      await mkdir(join(cwd, '.quittance-stack'));
      await writeFile(join(cwd, '.quittance-stack', 'admin-token'), 'qta_stack\n');
      expect((await admin()).code).toBe(0);
      expect(seen).toEqual(['Bearer qta_stack']);
    } finally {
      server.close();
    }
  });
});

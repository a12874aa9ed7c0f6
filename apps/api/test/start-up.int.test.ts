import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config';
import { startServer } from '../src/server';

/**
 * Start-up on the embedded database refuses, in one line and having closed what it opened,
 * a data folder that is someone else's and a port that is taken (found by probing: the first
 * took the modes of every file under the current folder, the second crashed with a stack).
 */
describe('start-up refuses what it must not take', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quittance-start-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  const start = (dataDir: string, port = 0) =>
    startServer(
      loadConfig({ QUITTANCE_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'silent' }),
    );

  it('a folder with other files is not made a data folder, and keeps its modes', async () => {
    const notes = join(dir, 'notes.txt');
    await writeFile(notes, 'mine', { mode: 0o644 });
    await expect(start(dir)).rejects.toThrow(
      /holds other files and none of a Quittance data folder: give a new or empty folder/,
    );
    expect((await stat(notes)).mode & 0o777).toBe(0o644);
    expect(await readFile(notes, 'utf8')).toBe('mine');
  });

  it('a data folder that is a file: one line naming the variable', async () => {
    await expect(start(join(dir, 'notes.txt'))).rejects.toThrow(
      /the data folder .*notes\.txt \(QUITTANCE_DATA_DIR\) cannot be used: EEXIST/,
    );
  });

  it('a port in use: one line, and the data folder opens again at once', async () => {
    const taken = createServer();
    await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done));
    const port = (taken.address() as { port: number }).port;
    const data = join(dir, 'data');
    try {
      await expect(start(data, port)).rejects.toThrow(
        `cannot listen on 127.0.0.1 port ${port} (HOST, PORT): EADDRINUSE`,
      );
    } finally {
      taken.close();
    }
    const running = await start(data);
    expect((await fetch(`${running.url}/healthz`)).status).toBe(200);
    // PORT=0: receipts name the port bound, not port 0.
    expect(running.services.snapshots.urlOf('2026-12')).toBe(
      `http://127.0.0.1:${running.port}/.well-known/jwks/snapshot/2026-12.json`,
    );
    await running.close();
  });

  it('a second process on the same embedded data folder is refused while the first runs', async () => {
    const data = join(dir, 'shared');
    const first = await start(data);
    const bin = resolve(import.meta.dirname, '../../../node_modules/.bin/quittance');
    const second = await promisify(execFile)(bin, ['serve'], {
      env: { ...process.env, QUITTANCE_DATA_DIR: data, PORT: '0', LOG_LEVEL: 'silent' },
      timeout: 60_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(
      `is in use by process ${process.pid}: one process per data folder`,
    );
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
    await first.close();
    // Released on close: the folder opens again.
    const again = await start(data);
    await again.close();
  });

  it.each([
    ['a FIFO', 'fifo', /QUITTANCE_TSA_TRUST .*fifo is not a PEM file/],
    ['missing', 'missing.pem', /QUITTANCE_TSA_TRUST .*missing\.pem cannot be read: ENOENT/],
  ])(
    'a TSA trust file that is %s: one line naming the variable, no hang',
    async (_what, name, message) => {
      await promisify(execFile)('mkfifo', [join(dir, 'fifo')]).catch(() => {});
      const config = loadConfig({
        QUITTANCE_DATA_DIR: join(dir, `tsa-${name}`),
        PORT: '0',
        LOG_LEVEL: 'silent',
        QUITTANCE_TSA_URL: 'http://127.0.0.1:1/tsa',
        QUITTANCE_TSA_TRUST: join(dir, name),
      });
      await expect(startServer(config)).rejects.toThrow(message);
    },
  );
});

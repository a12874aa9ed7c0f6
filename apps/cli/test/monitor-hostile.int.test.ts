import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type RunningServer, startServer } from '@quittance/api';
import { planCheckpointSignature } from '@quittance/format';
import { LocalSigner, signPlan } from '@quittance/signer';
import { createTestDatabase, type TestDatabase, until } from '@quittance/test-tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, run } from './cli-bin';
import { ADMIN, forward, monitorOnce, poster, smallReceipt } from './live-server';

/**
 * `quittance monitor` and `quittance admin` against a server that answers what the API never
 * would (found by probing with a hostile server): whatever it answers, one line and exit 2
 * when it cannot be read, a report and exit 1 only for a checkpoint that fails, never a
 * stack, a hang or a verdict made of garbage, and the state file left as it was. The real
 * API serves behind a proxy that replaces one answer per case.
 */
const LIST = '/api/v1/trust/checkpoints';

let database: TestDatabase;
let server: RunningServer;
let proxy: Server;
let proxyUrl: string;
let dir: string;
let merchantKey: string;
/** What the proxy answers instead of the API, for requests whose path and query match. */
let replace: ((path: string, res: ServerResponse) => boolean) | undefined;

const post = poster(() => server.url);

/** The real API's checkpoint list, newest first. */
async function listed(): Promise<Record<string, unknown>[]> {
  const r = await fetch(`${server.url}${LIST}?limit=500`, {
    headers: { authorization: `Bearer ${merchantKey}` },
  });
  return (await r.json()).checkpoints;
}

/** Replaces the answers to paths that start with `prefix`. */
const at =
  (prefix: string, respond: (res: ServerResponse) => void) =>
  (path: string, res: ServerResponse) => {
    if (!path.startsWith(prefix)) return false;
    respond(res);
    return true;
  };

const json = (res: ServerResponse, body: unknown, status = 200) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
};

/**
 * The monitor once against the proxy; the state at the checkpoint `stateSeq` when given (or
 * at the checkpoint given itself).
 */
async function monitor(
  stateSeq?: number | Record<string, unknown>,
  statePath = join(dir, 'state.json'),
) {
  await rm(statePath, { force: true });
  if (stateSeq !== undefined) {
    const checkpoint =
      typeof stateSeq === 'number' ? (await listed()).find((c) => c.seq === stateSeq) : stateSeq;
    await writeFile(statePath, JSON.stringify({ url: proxyUrl, checkpoint }));
  }
  const before = await readFile(statePath, 'utf8').catch(() => null);
  const publisher = join(dir, 'publisher.json');
  const result = await monitorOnce({
    url: proxyUrl,
    key: merchantKey,
    publisher,
    state: statePath,
  });
  const after = await readFile(statePath, 'utf8').catch(() => null);
  return { ...result, report: result.stdout ? JSON.parse(result.stdout) : null, before, after };
}

/** Exit 2 in one line naming `text`, no report, no stack, the state as it was. */
function expectUnreadable(result: Awaited<ReturnType<typeof monitor>>, text: RegExp) {
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(text)]);
  expect(result.code).toBe(2);
  expect(result.after).toBe(result.before);
}

beforeAll(async () => {
  database = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'quittance-monitor-hostile-'));
  server = await startServer(
    loadConfig({
      DATABASE_URL: database.url,
      QUITTANCE_DATA_DIR: join(dir, 'data'),
      QUITTANCE_ADMIN_TOKEN: ADMIN,
      QUITTANCE_CHECKPOINT_INTERVAL_S: '1',
      PORT: '0',
      LOG_LEVEL: 'silent',
    }),
  );
  await post('/admin/v1/merchants', { merchantId: 'watched', jurisdiction: 'EU' });
  merchantKey = (await post('/admin/v1/merchants/watched/api-keys', { role: 'merchant' })).apiKey;
  // Three checkpoints: seq 1, 2 and 3, one receipt each.
  for (let seq = 1; seq <= 3; seq++) {
    await post('/api/v1/trust/receipts', smallReceipt(`hostile-${seq}`, { seq }), merchantKey);
    await until(async () => (await listed())[0]?.seq === seq, 20_000);
  }
  await writeFile(
    join(dir, 'publisher.json'),
    await (await fetch(`${server.url}/.well-known/quittance-publisher.json`)).text(),
  );
  proxy = createServer((req, res) => {
    if (replace?.(req.url ?? '', res)) return;
    forward(server.url, req.url ?? '', req, res).catch(() => res.destroy());
  });
  await new Promise<void>((done) => proxy.listen(0, '127.0.0.1', done));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}, 60_000);
afterAll(async () => {
  proxy?.closeAllConnections();
  await new Promise((done) => proxy?.close(done));
  await server?.close();
  await database?.drop();
  await rm(dir, { recursive: true, force: true });
});

describe('quittance monitor against a hostile server', () => {
  it('the real log through the proxy is consistent (the cases below change one answer each)', async () => {
    replace = undefined;
    const result = await monitor(1);
    expect(result.code).toBe(0);
    expect(result.report).toMatchObject({ ok: true, checked: 2, newest: { seq: 3 } });
    expect(JSON.parse(result.after as string).checkpoint.seq).toBe(3);
  });

  it.each<[string, (path: string, res: ServerResponse) => boolean, RegExp]>([
    [
      'a list cut off mid-answer',
      (path, res) => {
        if (!path.startsWith(LIST)) return false;
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '5000' });
        res.write('{"checkpoints":[');
        setTimeout(() => res.destroy(), 50);
        return true;
      },
      /cannot read http.*checkpoints/,
    ],
    [
      'a list that is not one',
      at(LIST, (res) => json(res, { checkpoints: null })),
      /did not answer a list of checkpoints/,
    ],
    [
      'pages that loop',
      (path, res) => {
        if (!path.startsWith(`${LIST}?`)) return false;
        listed().then((all) =>
          json(res, { checkpoints: all.filter((c) => (c.seq as number) > 1), nextCursor: 'again' }),
        );
        return true;
      },
      /the pages of checkpoints loop/,
    ],
    [
      'an answer of 20 MiB',
      at(LIST, (res) => json(res, `"${'x'.repeat(20 * 2 ** 20)}"`)),
      /answered more than 16 MiB/,
    ],
    [
      'a 500 whose text moves the cursor and clears the screen',
      at(LIST, (res) => json(res, '\u001b[2J\u001b[HCONSISTENT\nall good', 500)),
      /answered 500: \[2J \[HCONSISTENT all good$/,
    ],
    [
      'a key snapshot that is null',
      at('/.well-known/jwks/snapshot/', (res) => json(res, null)),
      /the key snapshot of \d{4}-\d{2} cannot be read/,
    ],
    [
      'a consistency answer without a proof',
      at(`${LIST}/consistency`, (res) => json(res, {})),
      /answered no proof/,
    ],
  ])('%s: exit 2 in one line, the state as it was', async (_what, answer, message) => {
    replace = answer;
    expectUnreadable(await monitor(1), message);
  });

  it('a listed checkpoint whose time is garbage fails by name (exit 1), with no crash', async () => {
    const checkpoints = await listed();
    replace = at(`${LIST}?`, (res) =>
      json(res, {
        checkpoints: [{ ...checkpoints[0], createdAt: 'yesterday' }, ...checkpoints.slice(1)],
      }),
    );
    const result = await monitor(1);
    expect(result.code).toBe(1);
    expect(result.report.failures).toEqual([
      'checkpoint seq 3 is not a checkpoint: createdAt is not a time',
    ]);
    expect(result.report).toMatchObject({ checked: 1, newest: { seq: 2 } });
    expect(result.after).toBe(result.before);
  });

  it('the recorded checkpoint listed with another, unsigned root is a failed signature, not a fork', async () => {
    const checkpoints = await listed();
    replace = at(`${LIST}?`, (res) =>
      json(res, { checkpoints: [{ ...checkpoints[0], rootHash: 'a'.repeat(64) }] }),
    );
    const result = await monitor(3);
    expect(result.code).toBe(1);
    expect(result.report.failures).toContainEqual(
      expect.stringMatching(/^checkpoint seq 3: signature_valid refuted/),
    );
    expect(result.report.failures.join('\n')).not.toMatch(/fork/);
    expect(result.after).toBe(result.before);
  });

  it('a list oldest first loses nothing: the newest is the highest seq listed', async () => {
    const checkpoints = await listed();
    replace = at(`${LIST}?`, (res) => json(res, { checkpoints: [...checkpoints].reverse() }));
    const result = await monitor(1);
    expect(result.code).toBe(0);
    expect(result.report).toMatchObject({ ok: true, checked: 2, newest: { seq: 3 } });
  });

  it('a listed checkpoint with a negative seq is no "no checkpoint yet": exit 1 naming it', async () => {
    const checkpoints = await listed();
    replace = at(`${LIST}?`, (res) => json(res, { checkpoints: [{ ...checkpoints[0], seq: -1 }] }));
    const result = await monitor();
    expect(result.code).toBe(1);
    expect(result.report.failures).toEqual([
      'checkpoint seq -1 is not a checkpoint: seq -1 is not a positive integer',
    ]);
  });

  it('the same checkpoint listed twice counts once', async () => {
    const checkpoints = await listed();
    replace = at(`${LIST}?`, (res) => json(res, { checkpoints: [checkpoints[0], ...checkpoints] }));
    const result = await monitor(1);
    expect(result.code).toBe(0);
    expect(result.report).toMatchObject({ ok: true, checked: 2 });
  });

  // Found by an outside check of the monitor (SPEC §12: exit 1 for a fork, a rewrite or a
  // rollback, or a signature or key that fails; 2 only when the inputs cannot be read).
  it('the checkpoint verified before, gone from the log (consistency 404): a rewrite or rollback, exit 1', async () => {
    replace = at(`${LIST}/consistency?from=2&`, (res) =>
      json(res, { type: 'about:blank', status: 404, code: 'not_found' }, 404),
    );
    const result = await monitor(2);
    expect(result.code).toBe(1);
    expect(result.report.failures).toEqual([
      expect.stringMatching(/^rewrite or rollback: the log no longer holds checkpoint seq 2 /),
    ]);
    expect(result.after).toBe(result.before);
  });

  it("a checkpoint signed by another merchant's key fails now (exit 1), it is not left pending", async () => {
    await post('/admin/v1/merchants', { merchantId: 'neighbour', jurisdiction: 'EU' });
    const neighbourKid = (await post('/admin/v1/merchants/neighbour/signing-keys/rotate', {})).kid;
    const signer = await LocalSigner.load(join(dir, 'data', 'keys', `${neighbourKid}.jwk`));
    const checkpoints = await listed();
    const real = checkpoints[0] as Record<string, unknown>;
    const members = {
      merchantId: real.merchantId as string,
      seq: real.seq as number,
      entryHash: real.entryHash as string,
      rootHash: real.rootHash as string,
      createdAt: new Date().toISOString(),
      signingKeyKid: signer.kid,
    };
    const { jws } = await signPlan(planCheckpointSignature(members), signer);
    replace = at(`${LIST}?`, (res) =>
      json(res, { checkpoints: [{ ...members, jws, timestamp: null }, ...checkpoints.slice(1)] }),
    );
    const result = await monitor(1);
    expect(result.code).toBe(1);
    expect(result.report.failures).toEqual([
      expect.stringMatching(
        /^checkpoint seq 3: key_valid_at_issuance refuted: .*belongs to neighbour/,
      ),
    ]);
    expect(result.report.pending).toEqual([]);
    expect(result.after).toBe(result.before);
  });

  it("a state of another merchant's log is the wrong input (exit 2); another merchant's checkpoint in the list fails (exit 1)", async () => {
    const checkpoints = await listed();
    replace = undefined;
    const wrong = await monitor({ ...checkpoints.at(-1), merchantId: 'other' });
    expect(wrong.code).toBe(2);
    expectUnreadable(
      wrong,
      /is the state of merchant other's log, but this key reads the log of watched/,
    );

    replace = at(`${LIST}?`, (res) =>
      json(res, {
        checkpoints: [
          checkpoints[0],
          { ...checkpoints[1], merchantId: 'intruder' },
          ...checkpoints.slice(2),
        ],
      }),
    );
    const mixed = await monitor(1);
    expect(mixed.code).toBe(1);
    expect(mixed.report.failures).toContainEqual(
      'checkpoint seq 2 is of merchant intruder, in the log of watched',
    );
  });

  it('a state that cannot be written after a consistent round: exit 2, saying so', async () => {
    replace = undefined;
    const result = await monitor(undefined, join(dir, 'no-such-folder', 'state.json'));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/consistent up to seq 3, but .* cannot be written: ENOENT/);
  });
});

describe('quittance admin against a hostile server', () => {
  const admin = (url: string) =>
    run(
      bin,
      [
        'admin',
        'merchants',
        'create',
        'm-x',
        '--jurisdiction',
        'EU',
        '--url',
        url,
        '--token',
        ADMIN,
      ],
      {
        timeout: 60_000,
      },
    ).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
  let hostile: Server;
  let answer: (res: ServerResponse) => void = () => {};
  let hostileUrl: string;
  beforeAll(async () => {
    hostile = createServer((_req, res) => answer(res));
    await new Promise<void>((done) => hostile.listen(0, '127.0.0.1', done));
    hostileUrl = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((done) => hostile.close(done)));

  it('an HTML error page: its status and text in one line, exit 1', async () => {
    answer = (res) => {
      res.writeHead(401, { 'content-type': 'text/html' });
      res.end('<html>\n<body>Unauthorized</body>\n</html>');
    };
    const result = await admin(hostileUrl);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('401 <html> <body>Unauthorized</body> </html>\n');
  });

  it('a success that is not JSON: exit 2, not a success', async () => {
    answer = (res) => {
      res.writeHead(201, { 'content-type': 'text/plain' });
      res.end('created!');
    };
    const result = await admin(hostileUrl);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/did not answer JSON/),
    ]);
  });

  it('JSON nested 100,000 deep: exit 2 in one line, no stack overflow', async () => {
    answer = (res) => json(res, `${'['.repeat(100_000)}${']'.repeat(100_000)}`, 201);
    const result = await admin(hostileUrl);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/answered JSON nested deeper than 1000 levels/);
  });

  it('nobody listening: one line, exit 2, no usage text', async () => {
    const result = await admin('http://127.0.0.1:1');
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^quittance: cannot reach http:\/\/127\.0\.0\.1:1\/admin\/v1\/merchants: /,
      ),
    ]);
  });
});

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type RunningServer, startServer } from '@quittance/api';
import { chainHeads, logSubtrees, receipts } from '@quittance/db';
import {
  createTestDatabase,
  TEST_POSTGRES_URL,
  type TestDatabase,
  until,
} from '@quittance/test-tooling';
import { and, eq } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, run } from './cli-bin';
import { ADMIN, monitorOnce, poster, smallReceipt } from './live-server';

/**
 * `quittance monitor` (SPEC §12) against a live server: it accepts a log that only grows,
 * records the newest checkpoint only after verifying it, and exits 1 naming the checkpoint
 * when the operator rewrites an entry, rolls the log back or forks it (each made on a copy of
 * the database, as an operator would); 2 when it cannot reach it.
 */

let database: TestDatabase;
let backup: string;
let server: RunningServer;
let dir: string;
let agentKey: string;
let merchantKey: string;

const post = poster(() => server.url);

async function issue(n: number, key = () => merchantKey) {
  for (let i = 0; i < n; i++)
    await post(
      '/api/v1/trust/receipts',
      smallReceipt(`mon-${Math.random().toString(36).slice(2)}`, { i }),
      key(),
    );
}

/** Waits for the checkpoint job (every second here) to sign the head at `seq`. */
async function checkpointAt(seq: number, key = merchantKey) {
  await until(async () => {
    const r = await fetch(`${server.url}/api/v1/trust/checkpoints?limit=1`, {
      headers: { authorization: `Bearer ${key}` },
    });
    return (await r.json()).checkpoints[0]?.seq === seq;
  }, 20_000);
}

async function monitor(url = server.url, state = 'state.json', key = agentKey) {
  const publisher = join(dir, 'publisher.json');
  const { code, stdout, stderr } = await monitorOnce({
    url,
    key,
    publisher,
    state: join(dir, state),
  });
  return { code, report: stdout ? JSON.parse(stdout) : null, stderr };
}

const savedSeq = async (state = 'state.json') =>
  JSON.parse(await readFile(join(dir, state), 'utf8')).checkpoint.seq as number;

/** The API on `url` (the same data folder and port each time, as a restarted server). */
async function serve(url: string, port = 0) {
  server = await startServer(
    loadConfig({
      DATABASE_URL: url,
      QUITTANCE_DATA_DIR: join(dir, 'data'),
      QUITTANCE_ADMIN_TOKEN: ADMIN,
      QUITTANCE_CHECKPOINT_INTERVAL_S: '1',
      PORT: String(port),
      LOG_LEVEL: 'silent',
    }),
  );
}

/** A copy of the database as it is now (the server must be stopped): a backup to restore. */
async function backupOf(source: TestDatabase): Promise<string> {
  const name = `quittance_backup_${Date.now()}`;
  const admin = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name} template ${new URL(source.url).pathname.slice(1)}`);
  } finally {
    await admin.end();
  }
  const url = new URL(source.url);
  url.pathname = `/${name}`;
  return url.toString();
}

beforeAll(async () => {
  database = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'quittance-monitor-'));
  await serve(database.url);
  await post('/admin/v1/merchants', { merchantId: 'watched', jurisdiction: 'EU' });
  merchantKey = (await post('/admin/v1/merchants/watched/api-keys', { role: 'merchant' })).apiKey;
  agentKey = (
    await post('/admin/v1/merchants/watched/api-keys', { role: 'agent', agentId: 'agent-1' })
  ).apiKey;
  await writeFile(
    join(dir, 'publisher.json'),
    await (await fetch(`${server.url}/.well-known/quittance-publisher.json`)).text(),
  );
});
afterAll(async () => {
  await server?.close();
  await database?.drop();
  if (backup) {
    const admin = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`drop database if exists ${new URL(backup).pathname.slice(1)} with (force)`);
    await admin.end();
  }
  await rm(dir, { recursive: true, force: true });
});

describe('quittance monitor', () => {
  it('follows a growing log, and names the checkpoint when it is rewritten, rolled back or forked', async () => {
    await issue(5);
    await checkpointAt(5);
    const first = await monitor();
    expect(first.code).toBe(0);
    expect(first.report).toMatchObject({ ok: true, merchantId: 'watched', newest: { seq: 5 } });
    expect(await savedSeq()).toBe(5);

    // A backup of the log at seq 5, taken with the server stopped.
    const port = new URL(server.url).port;
    await server.close();
    backup = await backupOf(database);
    await serve(database.url, Number(port));

    await issue(4);
    await checkpointAt(9);
    const grown = await monitor();
    expect(grown.code).toBe(0);
    // One checkpoint more, or two when the job (every second) signed one mid-way.
    expect(grown.report.checked).toBeGreaterThanOrEqual(1);
    expect(grown.report.newest.seq).toBe(9);
    expect(await savedSeq()).toBe(9);
    expect((await monitor()).report).toMatchObject({ ok: true, checked: 0 });

    // Rewrite: entry 2 changes under the log; the next checkpoint cannot extend seq 9. The
    // server refuses to sign over a tree that disagrees with its stored frontier, so the
    // rewriter also drops what the tree kept, as an operator rewriting history would.
    const db = server.services.db;
    await db
      .update(receipts)
      .set({ entryHash: 'f'.repeat(64) })
      .where(and(eq(receipts.merchantId, 'watched'), eq(receipts.seq, 2)));
    await db.update(chainHeads).set({ frontier: [] }).where(eq(chainHeads.merchantId, 'watched'));
    await db.delete(logSubtrees).where(eq(logSubtrees.merchantId, 'watched'));
    await issue(3);
    await checkpointAt(12);
    const rewritten = await monitor();
    expect(rewritten.code).toBe(1);
    expect(rewritten.report.failures.join('\n')).toMatch(/does not extend checkpoint seq 9/);
    expect(await savedSeq()).toBe(9);

    // Rollback: the operator restores the backup from seq 5 behind the same URL.
    await server.close();
    await serve(backup, Number(port));
    const rolledBack = await monitor();
    expect(rolledBack.code).toBe(1);
    expect(rolledBack.report.failures.join('\n')).toMatch(/rollback.*seq 9/);
    expect(await savedSeq()).toBe(9);

    // Fork: the restored log grows again to seq 9, with other entries: same size, other root.
    await issue(4);
    await checkpointAt(9);
    const forked = await monitor();
    expect(forked.code).toBe(1);
    expect(forked.report.failures.join('\n')).toMatch(/fork: checkpoint seq 9/);
    expect(await savedSeq()).toBe(9);

    const otherLog = await monitor('http://127.0.0.1:1');
    expect(otherLog.code).toBe(2);
    expect(otherLog.stderr).toMatch(/is the state of http/);
    const unreachable = await monitor('http://127.0.0.1:1', 'fresh-state.json');
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toMatch(/cannot reach/);
  }, 120_000);
});

describe('quittance monitor across a revocation of the active key', () => {
  // A revocation first checkpoints the head with the key it revokes. That checkpoint's key
  // can never be proven valid (no timestamp from before the revocation), so the monitor once
  // failed every round after it, for good. A later checkpoint by the replacement key that
  // extends it now vouches for its root.
  it('waits for the next checkpoint (exit 0, pending), then records it, the revoked-key one vouched for', async () => {
    await post('/admin/v1/merchants', { merchantId: 'rekeyed', jurisdiction: 'EU' });
    const ownerKey = (await post('/admin/v1/merchants/rekeyed/api-keys', { role: 'merchant' }))
      .apiKey as string;
    const watcherKey = (
      await post('/admin/v1/merchants/rekeyed/api-keys', { role: 'agent', agentId: 'agent-1' })
    ).apiKey as string;
    const round = () => monitor(server.url, 'rekeyed-state.json', watcherKey);
    await issue(3, () => ownerKey);
    await checkpointAt(3, ownerKey);
    expect((await round()).report).toMatchObject({ ok: true, newest: { seq: 3 }, pending: [] });

    await issue(2, () => ownerKey);
    const kid = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()).keys.find(
      (k: { kid: string }) => k.kid.startsWith('rekeyed-'),
    ).kid as string;
    await post(`/admin/v1/signing-keys/${kid}/revoke`, { reason: 'keyCompromise' });
    await checkpointAt(5, ownerKey);
    const waiting = await round();
    expect(waiting.code).toBe(0);
    expect(waiting.report).toMatchObject({ ok: true, checked: 0, newest: { seq: 3 } });
    expect(waiting.report.pending).toEqual([
      expect.stringMatching(/^checkpoint seq 5: key_valid_at_issuance unknown: .*waiting/),
    ]);
    expect(await savedSeq('rekeyed-state.json')).toBe(3);

    await issue(2, () => ownerKey);
    await checkpointAt(7, ownerKey);
    const after = await round();
    expect(after.code).toBe(0);
    expect(after.report).toMatchObject({
      ok: true,
      checked: 2,
      newest: { seq: 7 },
      failures: [],
      pending: [],
    });
    expect(await savedSeq('rekeyed-state.json')).toBe(7);

    // A retired key revoked as of a time before the checkpoint it signed on its way out (a
    // compromise dated back), after the replacement key signed a later one: the older
    // checkpoint's key validity is refuted, not only unknown, and the later one vouches for it.
    const active = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()).keys.find(
      (k: { kid: string }) => k.kid.startsWith('rekeyed-'),
    ).kid as string;
    const compromisedSince = new Date().toISOString();
    await issue(2, () => ownerKey);
    await post('/admin/v1/merchants/rekeyed/signing-keys/rotate', {});
    await checkpointAt(9, ownerKey);
    await issue(2, () => ownerKey);
    await checkpointAt(11, ownerKey);
    const revoked = await post(`/admin/v1/signing-keys/${active}/revoke`, {
      reason: 'keyCompromise',
      revokedAt: compromisedSince,
    });
    expect(revoked.revokedAt).toBe(compromisedSince);
    const vouched = await round();
    expect(vouched.code).toBe(0);
    expect(vouched.report).toMatchObject({ ok: true, newest: { seq: 11 }, pending: [] });
    expect(vouched.report.vouched).toEqual([
      expect.stringMatching(
        /^checkpoint seq 9: key_valid_at_issuance refuted: .*vouched for by checkpoint seq 11/,
      ),
    ]);
    expect(await savedSeq('rekeyed-state.json')).toBe(11);

    // Such a revocation of the key that signed the newest checkpoint, the log standing still:
    // the job signs that head again with the active key, and the next round records it.
    const signer = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()).keys.find(
      (k: { kid: string }) => k.kid.startsWith('rekeyed-'),
    ).kid as string;
    const since = new Date().toISOString();
    await issue(2, () => ownerKey);
    await checkpointAt(13, ownerKey);
    const newestKid = async () =>
      (
        await (
          await fetch(`${server.url}/api/v1/trust/checkpoints?limit=1`, {
            headers: { authorization: `Bearer ${ownerKey}` },
          })
        ).json()
      ).checkpoints[0];
    expect((await newestKid()).signingKeyKid).toBe(signer);
    const replaced = await post(`/admin/v1/signing-keys/${signer}/revoke`, {
      reason: 'keyCompromise',
      revokedAt: since,
    });
    await until(async () => (await newestKid()).signingKeyKid === replaced.replacementKid, 20_000);
    expect((await newestKid()).seq).toBe(13);
    const resigned = await round();
    expect(resigned.code).toBe(0);
    expect(resigned.report).toMatchObject({ ok: true, newest: { seq: 13 }, pending: [] });
    expect(await savedSeq('rekeyed-state.json')).toBe(13);
  }, 90_000);
});

describe('quittance monitor refuses inputs it cannot trust, exit 2', () => {
  it.each([
    ['no rootHash', { rootHash: undefined }],
    ['a seq past 2^53', { seq: 1e300 }],
    ['a fractional seq', { seq: 0.5 }],
    ['a negative seq', { seq: -3 }],
    ['a root that is not hex', { rootHash: 'x'.repeat(64) }],
  ])(
    'a state file with %s is no verdict on the log, and is left as it was',
    async (_what, change) => {
      const path = join(dir, 'damaged-state.json');
      // A state as the monitor writes it, but for the one damaged member.
      const checkpoint = {
        seq: 1,
        rootHash: 'a'.repeat(64),
        createdAt: '2026-11-01T00:00:00.000Z',
      };
      const text = JSON.stringify({ url: server.url, checkpoint: { ...checkpoint, ...change } });
      await writeFile(path, text);
      const result = await monitor(server.url, 'damaged-state.json');
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/is not a monitor state file/);
      expect(await readFile(path, 'utf8')).toBe(text);
    },
  );

  it.each(['abc', '0', '1.5', '3000000', '0x10', '1e3', ' 8', ''])(
    '--interval-s %s is a usage error at once, not a loop',
    async (interval) => {
      const result = await run(
        bin,
        ['monitor', '--url', server.url, '--key', agentKey, '--publisher', 'p.json'].concat([
          '--state',
          join(dir, 'interval-state.json'),
          '--interval-s',
          interval,
        ]),
        { timeout: 20_000 },
      ).then(
        () => ({ code: 0, stderr: '' }),
        (error: { code: number; stderr: string }) => error,
      );
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/--interval-s must be a whole number from 1 to 2147483/);
    },
  );
});

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { merkleLeafHash } from '@quittance/format';
import { startTsaServer, type TsaTestServer, until } from '@quittance/test-tooling';
import { parsePemCertificates } from '@quittance/tsp';
import { parsePublisherKeys, verifyBundle } from '@quittance/verifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyExpiredKeys } from '../src/vault/retention';
import { download, storedBundle, unzipAll, zipAll } from './bundle-helpers';
import { createHarness, type Harness, issueBody } from './harness';

let tsa: TsaTestServer;
let h: Harness;
let m: Awaited<ReturnType<Harness['merchant']>>;
let dir: string;
let goodBundle: string;
let publisher: ReturnType<typeof parsePublisherKeys>;

async function exportBundle(
  harness: Harness,
  key: string,
  body: Record<string, unknown>,
  name: string,
) {
  const created = await harness.call('POST', '/api/v1/trust/exports', { key, body });
  expect(created.status).toBe(202);
  expect(created.body).toMatchObject({ status: 'queued', jurisdiction: body.jurisdiction });
  const done = await until(async () => {
    const r = await harness.call('GET', `/api/v1/trust/exports/${created.body.id}`, { key });
    if (r.body.status === 'failed') throw new Error(r.body.error);
    return r.body.status === 'done' && r.body;
  });
  const path = join(dir, name);
  const res = await download(harness.app, key, created.body.id, path);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/zip');
  return { path, status: done };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'quittance-exports-'));
  tsa = await startTsaServer();
  h = await createHarness({
    jobs: true,
    env: {
      QUITTANCE_TSA_URL: tsa.url,
      QUITTANCE_TSA_TRUST: tsa.trustPemPath,
      QUITTANCE_SWEEP_INTERVAL_MS: '100',
      QUITTANCE_CHECKPOINT_EVERY: '5',
      QUITTANCE_CHECKPOINT_INTERVAL_S: '1',
    },
  });
  m = await h.merchant();
  for (const orderId of ['order-a', 'order-b', 'order-c']) {
    for (let i = 0; i < 4; i++) {
      const r = await h.call('POST', '/api/v1/trust/receipts', {
        key: m.merchantKey,
        body: issueBody({ orderId }),
      });
      expect(r.status).toBe(201);
    }
  }
  await h.call('POST', '/api/v1/trust/receipts', {
    key: m.merchantKey,
    body: {
      callId: 'hashes-only',
      agentId: 'a',
      bucket: 'discovery',
      tool: 'search',
      inputHash: 'a'.repeat(64),
      outputHash: 'b'.repeat(64),
    },
  });
  await until(async () => {
    const list = await h.call('GET', '/api/v1/trust/receipts?limit=500', { key: m.merchantKey });
    const checkpoints = await h.call('GET', '/api/v1/trust/checkpoints', { key: m.merchantKey });
    return (
      list.body.receipts.every((r: any) => r.timestamp) &&
      checkpoints.body.checkpoints.some((c: any) => c.seq === 13 && c.timestamp) &&
      checkpoints.body.checkpoints.every((c: any) => c.timestamp)
    );
  });
  publisher = parsePublisherKeys(
    (await h.call('GET', '/.well-known/quittance-publisher.json')).body,
  );
  goodBundle = (
    await exportBundle(h, m.auditorKey, { jurisdiction: 'EU', includeBodies: true }, 'good.zip')
  ).path;
}, 120_000);
afterAll(async () => {
  await h?.close();
  await tsa?.close();
});

describe('export round trip', () => {
  it.each(['EU', 'US', 'BR', 'OTHER'])(
    '%s: every claim of every receipt is asserted offline',
    async (jurisdiction) => {
      const { path, status } = await exportBundle(
        h,
        m.merchantKey,
        { jurisdiction, includeBodies: true },
        `rt-${jurisdiction}.zip`,
      );
      expect(status.progress).toEqual({ receipts: 13, total: 13 });
      const result = await verifyBundle(path, { publisher, keepReceipts: true });
      expect(result.claims).toMatchObject({
        files_intact: { status: 'asserted' },
        manifest_valid: { status: 'asserted' },
        snapshot_authentic: { status: 'asserted' },
        chain_complete: { status: 'asserted' },
        checkpoints_valid: { status: 'asserted' },
        log_consistent: { status: 'asserted' },
      });
      expect(result.ok).toBe(true);
      expect(result.receiptCount).toBe(13);
      expect(result.counts.signature_valid).toEqual({ asserted: 13, refuted: 0, unknown: 0 });
      expect(result.counts.key_valid_at_issuance?.asserted).toBe(13);
      expect(result.counts.timestamp_valid?.asserted).toBe(13);
      expect(result.counts.chain_linked?.asserted).toBe(13);
      expect(result.counts.body_matches).toEqual({ asserted: 12, refuted: 0, unknown: 1 });
      const entries = await unzipAll(path);
      const manifest = JSON.parse(entries.get('manifest.json')?.toString() ?? '');
      expect(manifest).toMatchObject({
        merchantId: m.merchantId,
        jurisdiction,
        counts: { receipts: 13, bodies: 12, bodiesUnavailable: 1 },
      });
      expect(manifest.retention.years).toBe({ EU: 6, US: 7, BR: 5, OTHER: 10 }[jurisdiction]);
      expect(entries.get('VERIFY.md')?.toString()).toContain(
        `What the legal posture means here (${jurisdiction})`,
      );
      expect([...entries.keys()].filter((n) => n.startsWith('tsa/')).length).toBeGreaterThan(0);
      // SPEC §9: one bodies.jsonl line per receipt with bodies, in chain order.
      const receiptIds = (entries.get('receipts.jsonl')?.toString().trim().split('\n') ?? []).map(
        (l) => JSON.parse(l).id,
      );
      const bodyLines = (entries.get('bodies.jsonl')?.toString().trim().split('\n') ?? []).map(
        (l) => JSON.parse(l),
      );
      expect(bodyLines.map((b) => Object.keys(b))).toEqual(
        Array(12).fill(['id', 'input', 'output']),
      );
      expect(bodyLines.map((b) => b.id)).toEqual(
        receiptIds.filter((id) => bodyLines.some((b) => b.id === id)),
      );
      expect([...entries.keys()].some((n) => n.startsWith('bodies/'))).toBe(false);
      expect(result.claims.body_matches?.status).toBe('asserted');
      // SPEC §9: the range starts at seq 1, so the tree before it is empty.
      expect(JSON.parse(entries.get('log.json')?.toString() ?? '')).toEqual({
        size: 0,
        frontier: [],
      });
      expect(manifest.files.map((file: { path: string }) => file.path)).toContain('log.json');
    },
  );

  it('narrows by orderId: other orders appear in the chain only as hashes, and it still verifies', async () => {
    const { path } = await exportBundle(
      h,
      m.auditorKey,
      { jurisdiction: 'EU', orderId: 'order-b' },
      'order-b.zip',
    );
    const entries = await unzipAll(path);
    const receipts = entries.get('receipts.jsonl')?.toString().trim().split('\n') ?? [];
    expect(receipts.map((l) => JSON.parse(l).orderId)).toEqual([
      'order-b',
      'order-b',
      'order-b',
      'order-b',
    ]);
    const result = await verifyBundle(path, { publisher });
    expect(result.ok).toBe(true);
    expect(result.counts.chain_linked?.asserted).toBe(4);
    // log.json is the tree of the entries before order-b's first (one hash per set bit of its
    // size); the checkpoints inside the range recompute from it and the chain entries.
    const first = JSON.parse(receipts[0] as string).chain.seq;
    const log = JSON.parse(entries.get('log.json')?.toString() ?? '');
    expect(log.size).toBe(first - 1);
    expect(log.frontier).toHaveLength((first - 1).toString(2).replaceAll('0', '').length);
    // Which checkpoints fall inside order-b's range depends on when the job ran: those that
    // do must recompute; with none, there is nothing to recompute (unknown, never refuted).
    const last = JSON.parse(receipts.at(-1) as string).chain.seq;
    const inRange = (entries.get('checkpoints.jsonl')?.toString().trim().split('\n') ?? [])
      .filter(Boolean)
      .map((l) => JSON.parse(l).seq as number)
      .filter((seq) => seq >= first - 1 && seq <= last);
    expect(result.claims.log_consistent).toMatchObject(
      inRange.length > 0
        ? { status: 'asserted', reason: expect.stringContaining(`(size ${first - 1})`) }
        : { status: 'unknown' },
    );
  });

  it('agents cannot export; other merchants cannot see or download', async () => {
    expect(
      (
        await h.call('POST', '/api/v1/trust/exports', {
          key: m.agent1Key,
          body: { jurisdiction: 'EU' },
        })
      ).status,
    ).toBe(403);
    const created = await h.call('POST', '/api/v1/trust/exports', {
      key: m.merchantKey,
      body: { jurisdiction: 'EU' },
    });
    const other = await h.merchant();
    for (const key of [other.merchantKey, other.auditorKey, m.agent1Key]) {
      expect(
        (await h.call('GET', `/api/v1/trust/exports/${created.body.id}`, { key })).status,
      ).toBe(404);
      expect(
        (await h.call('GET', `/api/v1/trust/exports/${created.body.id}/download`, { key })).status,
      ).toBe(404);
    }
    const bad = await h.call('POST', '/api/v1/trust/exports', {
      key: m.merchantKey,
      body: { jurisdiction: 'MARS' },
    });
    expect(bad.body.code).toBe('invalid_request');
    // Found by an outside check: a future from was accepted and made a manifest whose range
    // ended before it started.
    const future = await h.call('POST', '/api/v1/trust/exports', {
      key: m.merchantKey,
      body: { jurisdiction: 'EU', from: new Date(Date.now() + 86_400_000).toISOString() },
    });
    expect(future.status).toBe(400);
    expect(future.body).toMatchObject({
      code: 'invalid_request',
      detail: expect.stringContaining('is in the future'),
    });
  });
});

describe('tampered bundles are refuted with the right claim', () => {
  const lines = (buffer: Buffer | undefined) => (buffer?.toString() ?? '').trim().split('\n');
  const tamper = async (name: string, edit: (entries: Map<string, Buffer>) => void) => {
    const entries = await unzipAll(goodBundle);
    edit(entries);
    const path = join(dir, `tampered-${name}.zip`);
    await zipAll(path, entries);
    const result = await verifyBundle(path, { publisher, keepReceipts: true });
    expect(result.ok).toBe(false);
    return result;
  };
  const receiptFailure = (result: Awaited<ReturnType<typeof tamper>>, claim: string) =>
    result.firstFailures.find((f) => f.claim === claim);

  it('a receipt line edited', async () => {
    const result = await tamper('edited', (e) => {
      const all = lines(e.get('receipts.jsonl'));
      all[1] = JSON.stringify({ ...JSON.parse(all[1] as string), orderId: 'order-z' });
      e.set('receipts.jsonl', Buffer.from(`${all.join('\n')}\n`));
    });
    expect(result.claims.files_intact?.reason).toContain('receipts.jsonl does not match');
    expect(receiptFailure(result, 'signature_valid')?.reason).toContain('does not verify');
  });

  it('a receipt line deleted', async () => {
    const result = await tamper('deleted', (e) => {
      const all = lines(e.get('receipts.jsonl'));
      all.splice(4, 1);
      e.set('receipts.jsonl', Buffer.from(`${all.join('\n')}\n`));
    });
    expect(result.claims.chain_complete?.status).toBe('refuted');
    expect(result.claims.chain_complete?.reason).toContain('no receipt for chain entries at seq 5');
  });

  it('a receipt line duplicated', async () => {
    const result = await tamper('duplicated', (e) => {
      const all = lines(e.get('receipts.jsonl'));
      all.splice(3, 0, all[2] as string);
      e.set('receipts.jsonl', Buffer.from(`${all.join('\n')}\n`));
    });
    expect(receiptFailure(result, 'chain_linked')?.reason).toMatch(/appears twice/);
  });

  it('receipt lines reordered', async () => {
    const result = await tamper('reordered', (e) => {
      const all = lines(e.get('receipts.jsonl'));
      [all[5], all[6]] = [all[6] as string, all[5] as string];
      e.set('receipts.jsonl', Buffer.from(`${all.join('\n')}\n`));
    });
    expect(receiptFailure(result, 'chain_linked')?.reason).toMatch(/not in chain order/);
  });

  it('a chain entry altered', async () => {
    const result = await tamper('chain', (e) => {
      const all = lines(e.get('chain.jsonl'));
      all[3] = JSON.stringify({ ...JSON.parse(all[3] as string), receiptHash: 'f'.repeat(64) });
      e.set('chain.jsonl', Buffer.from(`${all.join('\n')}\n`));
    });
    expect(result.claims.chain_complete?.reason).toContain('entryHash does not recompute');
    expect(result.counts.chain_linked?.refuted).toBeGreaterThan(0);
  });

  it('a snapshot key swapped', async () => {
    const result = await tamper('snapshot', (e) => {
      const name = [...e.keys()].find((n) => n.startsWith('jwks/')) as string;
      const doc = JSON.parse(e.get(name)?.toString() ?? '');
      doc.keys[0].x = '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo';
      e.set(name, Buffer.from(JSON.stringify(doc)));
    });
    expect(result.claims.snapshot_authentic?.status).toBe('refuted');
  });

  it('the manifest edited', async () => {
    const result = await tamper('manifest', (e) => {
      const manifest = JSON.parse(e.get('manifest.json')?.toString() ?? '');
      manifest.jurisdiction = 'BR';
      e.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
    });
    expect(result.claims.manifest_valid?.status).toBe('refuted');
    expect(result.claims.manifest_valid?.reason).toContain('altered');
  });

  it('a file added, or removed', async () => {
    const added = await tamper('added', (e) => e.set('notes.txt', Buffer.from('hello')));
    expect(added.claims.files_intact?.reason).toContain('notes.txt is not in the manifest');
    const removed = await tamper('removed', (e) => e.delete('VERIFY.md'));
    expect(removed.claims.files_intact?.reason).toContain('VERIFY.md is listed but missing');
  });

  it('a file name twice in the zip (zip tools would disagree on which to show)', async () => {
    const entries = await unzipAll(goodBundle);
    const path = join(dir, 'tampered-duplicate.zip');
    const forged = Buffer.from('{"forged":true}\n');
    await zipAll(path, [['receipts.jsonl', forged], ...entries]);
    const result = await verifyBundle(path, { publisher });
    expect(result.claims.files_intact?.reason).toContain('receipts.jsonl occurs more than once');
  });

  it('a body altered', async () => {
    const result = await tamper('body', (e) => {
      const all = lines(e.get('bodies.jsonl'));
      const body = JSON.parse(all[3] as string);
      body.output = { ok: false };
      all[3] = JSON.stringify(body);
      e.set('bodies.jsonl', Buffer.from(`${all.join('\n')}\n`));
    });
    expect(receiptFailure(result, 'body_matches')?.reason).toContain('output');
    expect(result.claims.files_intact?.reason).toContain('bodies.jsonl does not match');
  });

  it('a body line dropped, or moved to another receipt', async () => {
    const dropped = await tamper('body-dropped', (e) => {
      const all = lines(e.get('bodies.jsonl'));
      all.splice(2, 1);
      e.set('bodies.jsonl', Buffer.from(`${all.join('\n')}\n`));
    });
    expect(dropped.claims.body_matches?.reason).toContain('manifest counts 12 disclosed bodies');
    const moved = await tamper('body-moved', (e) => {
      const all = lines(e.get('bodies.jsonl')).map((l) => JSON.parse(l));
      all[4].id = all[5].id;
      e.set('bodies.jsonl', Buffer.from(`${all.map((b) => JSON.stringify(b)).join('\n')}\n`));
    });
    // The bodies of this test's receipts are all alike, so the hashes still match: the line
    // that now names a receipt already passed is what is refuted.
    expect(moved.claims.body_matches?.status).toBe('refuted');
    expect(moved.claims.body_matches?.reason).toContain('repeated or out of chain order');
  });

  it('a timestamp token from another receipt', async () => {
    const result = await tamper('token', (e) => {
      const all = lines(e.get('receipts.jsonl')).map((l) => JSON.parse(l));
      all[2].timestamp = all[3].timestamp;
      e.set('receipts.jsonl', Buffer.from(`${all.map((r) => JSON.stringify(r)).join('\n')}\n`));
    });
    expect(receiptFailure(result, 'timestamp_valid')?.reason).toContain('imprint');
  });
});

describe('retention', () => {
  it('excludes receipts older than the jurisdiction; shredded bodies are 410 and the bundle still verifies', async () => {
    const years = 365.25 * 24 * 3600_000;
    let now = Date.now() - 7 * years;
    const old = await createHarness({ clock: () => new Date(now) });
    try {
      const mm = await old.merchant();
      const ancient = await old.call('POST', '/api/v1/trust/receipts', {
        key: mm.merchantKey,
        body: issueBody({ orderId: 'old' }),
      });
      now = Date.now();
      const recent = await old.call('POST', '/api/v1/trust/receipts', {
        key: mm.merchantKey,
        body: issueBody({ orderId: 'new' }),
      });
      const oldHarnessPublisher = parsePublisherKeys(
        (await old.call('GET', '/.well-known/quittance-publisher.json')).body,
      );

      now += 1_000; // the export window ends at "now", exclusive
      const destroyed = await destroyExpiredKeys(old.services);
      expect(destroyed.map((d) => d.month)).toEqual([ancient.body.createdAt.slice(0, 7)]);
      const gone = await old.call('GET', `/api/v1/trust/receipts/${ancient.body.id}/bodies`, {
        key: mm.auditorKey,
      });
      expect(gone.status).toBe(410);
      expect(gone.body.code).toBe('bodies_destroyed');
      expect(
        (
          await old.call('GET', `/api/v1/trust/receipts/${recent.body.id}/bodies`, {
            key: mm.auditorKey,
          })
        ).status,
      ).toBe(200);

      await old.services.exports.build(
        (
          await old.services.exports.create(
            { merchantId: mm.merchantId, role: 'auditor', agentId: null, keyPrefix: 'test' },
            { jurisdiction: 'EU', includeBodies: true },
          )
        ).id,
      );
      const [eu] = await old.services.db.query.exports.findMany({
        where: (e, { eq }) => eq(e.merchantId, mm.merchantId),
      });
      const euBundle = await storedBundle(old.services, eu?.id as string);
      const euResult = await verifyBundle(euBundle, {
        publisher: oldHarnessPublisher,
        keepReceipts: true,
      });
      expect(euResult.receipts.map((r) => r.id)).toEqual([recent.body.id]);
      expect(euResult.ok).toBe(true);
      // The range starts at seq 2: log.json is the tree of entry 1, its leaf.
      const euLog = JSON.parse((await unzipAll(euBundle)).get('log.json')?.toString() ?? '');
      expect(euLog).toEqual({
        size: 1,
        frontier: [await merkleLeafHash(ancient.body.chain.entryHash)],
      });
      expect(euResult.claims.log_consistent?.status).not.toBe('refuted');

      const other = await old.services.exports.create(
        { merchantId: mm.merchantId, role: 'auditor', agentId: null, keyPrefix: 'test' },
        { jurisdiction: 'OTHER', includeBodies: true },
      );
      await old.services.exports.build(other.id);
      const result = await verifyBundle(await storedBundle(old.services, other.id), {
        publisher: oldHarnessPublisher,
        keepReceipts: true,
      });
      expect(result.receipts.map((r) => r.id)).toEqual([ancient.body.id, recent.body.id]);
      expect(result.ok).toBe(true);
      expect(result.receipts[0]?.claims.body_matches?.status).toBe('unknown');
      expect(result.receipts[1]?.claims.body_matches?.status).toBe('asserted');
      expect(result.receipts[0]?.claims.signature_valid.status).toBe('asserted');
    } finally {
      await old.close();
    }
  });
});

describe('evidence of time', () => {
  it('timestamps prove existence before a revocation only with TSA roots the auditor pinned', async () => {
    const shop = await h.merchant();
    const issued = await h.call('POST', '/api/v1/trust/receipts', {
      key: shop.merchantKey,
      body: issueBody(),
    });
    await until(
      async () =>
        (await h.call('GET', `/api/v1/trust/receipts/${issued.body.id}`, { key: shop.merchantKey }))
          .body.timestamp,
    );
    await new Promise((r) => setTimeout(r, 1_100)); // genTime has second precision
    const revoked = await h.admin('POST', `/signing-keys/${issued.body.signingKeyKid}/revoke`, {
      reason: 'key_compromise',
    });
    expect(revoked.status).toBe(200);
    const { path } = await exportBundle(h, shop.auditorKey, { jurisdiction: 'EU' }, 'revoked.zip');
    const fromBundle = await verifyBundle(path, { publisher, keepReceipts: true });
    expect(fromBundle.receipts[0]?.claims.key_valid_at_issuance.status).toBe('unknown');
    const pinned = await verifyBundle(path, {
      publisher,
      keepReceipts: true,
      tsaTrustAnchors: parsePemCertificates(tsa.trustPem),
    });
    expect(pinned.receipts[0]?.claims.key_valid_at_issuance.status).toBe('asserted');
    expect(pinned.ok).toBe(true);
  });

  it('an export whose window cuts between receipts out of createdAt order has no hole in its chain', async () => {
    const base = Date.parse('2026-11-20T10:00:00.000Z');
    let now = base;
    const clocked = await createHarness({ clock: () => new Date(now) });
    try {
      const shop = await clocked.merchant();
      for (const offset of [500, 2_000, 1_000]) {
        now = base + offset;
        expect(
          (
            await clocked.call('POST', '/api/v1/trust/receipts', {
              key: shop.merchantKey,
              body: issueBody(),
            })
          ).status,
        ).toBe(201);
      }
      now = base + 10_000;
      const created = await clocked.services.exports.create(
        { merchantId: shop.merchantId, role: 'auditor', agentId: null, keyPrefix: 'test' },
        { jurisdiction: 'EU', to: new Date(base + 1_500).toISOString() },
      );
      await clocked.services.exports.build(created.id);
      const keys = parsePublisherKeys(
        (await clocked.call('GET', '/.well-known/quittance-publisher.json')).body,
      );
      const result = await verifyBundle(await storedBundle(clocked.services, created.id), {
        publisher: keys,
      });
      expect(result.claims.chain_complete?.status).toBe('asserted');
      expect(result.ok).toBe(true);
    } finally {
      await clocked.close();
    }
  });

  it('ends when it was asked for: receipts issued before its build are not in it, and the answer says where it ends', async () => {
    const base = Date.parse('2026-11-20T10:00:00.000Z');
    let now = base;
    const clocked = await createHarness({ clock: () => new Date(now) });
    try {
      const shop = await clocked.merchant();
      const issue = async () =>
        (
          await clocked.call('POST', '/api/v1/trust/receipts', {
            key: shop.merchantKey,
            body: issueBody(),
          })
        ).body.id as string;
      const before = [await issue(), await issue()];
      now = base + 1_000;
      const asked = await clocked.call('POST', '/api/v1/trust/exports', {
        key: shop.auditorKey,
        body: { jurisdiction: 'EU' },
      });
      expect(asked.status).toBe(202);
      expect(asked.body.to).toBe(new Date(base + 1_000).toISOString());
      // Issued after the request, before the build (a queue that waited, a restart).
      now = base + 2_000;
      await issue();
      now = base + 3_000;
      await clocked.services.exports.build(asked.body.id);
      const keys = parsePublisherKeys(
        (await clocked.call('GET', '/.well-known/quittance-publisher.json')).body,
      );
      const result = await verifyBundle(await storedBundle(clocked.services, asked.body.id), {
        publisher: keys,
        keepReceipts: true,
      });
      expect(result.receipts.map((r) => r.id)).toEqual(before);
      expect(result.ok).toBe(true);
    } finally {
      await clocked.close();
    }
  });
});

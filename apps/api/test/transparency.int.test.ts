import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkpoints, logSubtrees, receipts } from '@quittance/db';
import {
  consistencyProof,
  inclusionProof,
  merkleRoot,
  timestampImprint,
  verifyConsistency,
} from '@quittance/format';
import { startTsaServer } from '@quittance/test-tooling';
import { verifyTimestampToken } from '@quittance/tsp';
import {
  loadKeyHistory,
  parsePublisherKeys,
  verifyBundle,
  verifyReceipt,
} from '@quittance/verifier';
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDueCheckpoints } from '../src/jobs/checkpoints';
import { timestampCheckpoint } from '../src/timestamps/timestamp-work';
import { TsaTimestamper } from '../src/timestamps/timestamper';
import { createHarness, type Harness, issueBody } from './harness';

/**
 * Inclusion and consistency proofs served by the API (SPEC §6.1, §8) verify with the
 * offline verifier and the RFC 9162 algorithms, equal the proofs computed over every entry,
 * and follow the receipts' visibility rules. Both database drivers.
 */
describe.each([
  ['PostgreSQL', false],
  ['PGlite', true],
])('transparency API on %s', (_name, embedded) => {
  let h: Harness;
  beforeAll(async () => {
    // Checkpoints are made by hand here: every 1,000 receipts, never by time.
    h = await createHarness({
      embedded,
      env: { QUITTANCE_CHECKPOINT_EVERY: '1000', QUITTANCE_CHECKPOINT_INTERVAL_S: '3600' },
    });
  });
  afterAll(() => h?.close());

  const issue = async (key: string, n: number, agentId = 'agent-1') => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await h.call('POST', '/api/v1/trust/receipts', {
        key,
        body: issueBody({ agentId }),
      });
      expect(r.status).toBe(201);
      ids.push(r.body.id);
    }
    return ids;
  };
  /** Forces a checkpoint of every merchant's head now (the job's rule, with no wait). */
  const checkpointNow = () => h.checkpointNow();
  const history = async (receipt: { jwksSnapshotUrl: string }) =>
    loadKeyHistory((await h.call('GET', new URL(receipt.jwksSnapshotUrl).pathname)).body, {
      publisher: parsePublisherKeys(
        (await h.call('GET', '/.well-known/quittance-publisher.json')).body,
      ),
    });
  const entriesOf = async (merchantId: string) =>
    (
      await h.services.db
        .select({ entryHash: receipts.entryHash })
        .from(receipts)
        .where(eq(receipts.merchantId, merchantId))
        .orderBy(asc(receipts.seq))
    ).map((r) => r.entryHash);

  it('before any checkpoint: 404 not_checkpointed with Retry-After; bad values are 400', async () => {
    const m = await h.merchant();
    const [id] = await issue(m.merchantKey, 1);
    const early = await h.call('GET', `/api/v1/trust/receipts/${id}/proof`, {
      key: m.merchantKey,
    });
    expect(early.status).toBe(404);
    expect(early.body.code).toBe('not_checkpointed');
    expect(early.headers.get('retry-after')).toBe('3600');
    for (const bad of ['0', '-1', 'x', '1.5', '99999999999999999999', '0x10', '1e3', ''])
      expect(
        (
          await h.call('GET', `/api/v1/trust/receipts/${id}/proof?checkpoint=${bad}`, {
            key: m.merchantKey,
          })
        ).status,
      ).toBe(400);
    for (const query of ['from=1', 'from=2&to=1', 'from=a&to=1', 'from=1&to=2&x=3'])
      expect(
        (
          await h.call('GET', `/api/v1/trust/checkpoints/consistency?${query}`, {
            key: m.merchantKey,
          })
        ).status,
      ).toBe(400);
  });

  it('a log that grew past the step between two runs gets a checkpoint at every step (SPEC §6: at least every N receipts)', async () => {
    const m = await h.merchant();
    await issue(m.merchantKey, 25);
    const config = h.services.config as { checkpointEvery: number };
    const every = config.checkpointEvery;
    config.checkpointEvery = 10;
    try {
      await createDueCheckpoints(h.services);
    } finally {
      config.checkpointEvery = every;
    }
    const seqs = async () =>
      (
        (await h.call('GET', '/api/v1/trust/checkpoints', { key: m.auditorKey })).body
          .checkpoints as { seq: number; rootHash: string; entryHash: string }[]
      ).reverse();
    // Not yet the head: 25 is 5 past the last step, and its interval is not due.
    const entries = await entriesOf(m.merchantId);
    const steps = await seqs();
    expect(steps.map((c) => c.seq)).toEqual([10, 20]);
    for (const c of steps) {
      expect(c.rootHash).toBe(await merkleRoot(entries.slice(0, c.seq)));
      expect(c.entryHash).toBe(entries[c.seq - 1]);
    }
    await checkpointNow();
    expect((await seqs()).map((c) => c.seq)).toEqual([10, 20, 25]);
  });

  it('proofs against every checkpoint verify offline and equal the proofs over all entries', async () => {
    const m = await h.merchant();
    const ids = await issue(m.merchantKey, 6);
    await checkpointNow(); // checkpoint at 6
    ids.push(...(await issue(m.merchantKey, 7)));
    await checkpointNow(); // checkpoint at 13
    const entries = await entriesOf(m.merchantId);
    for (const [i, id] of ids.entries()) {
      const r = await h.call('GET', `/api/v1/trust/receipts/${id}/proof`, { key: m.auditorKey });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ receiptId: id, seq: i + 1, treeSize: 13 });
      expect(r.body.auditPath).toEqual(await inclusionProof(entries, i + 1, 13));
      const receipt = (await h.call('GET', `/api/v1/trust/receipts/${id}`, { key: m.auditorKey }))
        .body;
      const report = await verifyReceipt(receipt, await history(receipt), { proof: r.body });
      expect(report.claims.included_in_log?.status).toBe('asserted');
    }
    // Against the older checkpoint too, and not against one made before the receipt.
    const old = await h.call('GET', `/api/v1/trust/receipts/${ids[2]}/proof?checkpoint=6`, {
      key: m.merchantKey,
    });
    expect(old.body.treeSize).toBe(6);
    expect(old.body.auditPath).toEqual(await inclusionProof(entries, 3, 6));
    expect(
      (
        await h.call('GET', `/api/v1/trust/receipts/${ids[10]}/proof?checkpoint=6`, {
          key: m.merchantKey,
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await h.call('GET', `/api/v1/trust/receipts/${ids[0]}/proof?checkpoint=7`, {
          key: m.merchantKey,
        })
      ).status,
    ).toBe(404);

    const consistency = await h.call('GET', '/api/v1/trust/checkpoints/consistency?from=6&to=13', {
      key: m.auditorKey,
    });
    expect(consistency.status).toBe(200);
    expect(consistency.body.proof).toEqual(await consistencyProof(entries, 6, 13));
    const check = await verifyConsistency({
      from: 6,
      to: 13,
      fromRoot: consistency.body.from.rootHash,
      toRoot: consistency.body.to.rootHash,
      proof: consistency.body.proof,
    });
    expect(check).toEqual({ ok: true });
    expect(
      (
        await h.call('GET', '/api/v1/trust/checkpoints/consistency?from=6&to=12', {
          key: m.auditorKey,
        })
      ).status,
    ).toBe(404);
  });

  it('past 16 entries the tree keeps tiles of subtree roots, and proofs stay equal', async () => {
    const m = await h.merchant();
    const ids = await issue(m.merchantKey, 600);
    await checkpointNow();
    const entries = await entriesOf(m.merchantId);
    for (const seq of [1, 256, 257, 512, 513, 600]) {
      const r = await h.call('GET', `/api/v1/trust/receipts/${ids[seq - 1]}/proof`, {
        key: m.merchantKey,
      });
      expect(r.body.auditPath).toEqual(await inclusionProof(entries, seq, 600));
    }
    const stored = await h.services.db
      .select()
      .from(logSubtrees)
      .where(eq(logSubtrees.merchantId, m.merchantId));
    // 600 entries: 37 level-4 nodes in tiles of 16 with the 14 nodes above them (the last of
    // 5 + 2 + 1), 2 level-8 nodes (+ 1).
    expect(stored.map((s) => `${s.level}:${s.index}×${s.hashes.length / 32}`).sort()).toEqual([
      '4:0×30',
      '4:1×30',
      '4:2×8',
      '8:0×3',
    ]);
  }, 120_000);

  it('agents get proofs of their own receipts only and may check consistency; other merchants see nothing', async () => {
    const m = await h.merchant();
    const [mine] = await issue(m.merchantKey, 1, 'agent-1');
    const [theirs] = await issue(m.merchantKey, 1, 'agent-2');
    await checkpointNow();
    const proof = (id: string | undefined, key: string) =>
      h.call('GET', `/api/v1/trust/receipts/${id}/proof`, { key });
    expect((await proof(mine, m.agent1Key)).status).toBe(200);
    expect((await proof(theirs, m.agent1Key)).status).toBe(404);
    const other = await h.merchant();
    expect((await proof(mine, other.merchantKey)).status).toBe(404);
    expect(
      (
        await h.call('GET', '/api/v1/trust/checkpoints/consistency?from=2&to=2', {
          key: m.agent1Key,
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await h.call('GET', '/api/v1/trust/checkpoints/consistency?from=2&to=2', {
          key: other.auditorKey,
        })
      ).status,
    ).toBe(404);
  });

  it('a rotation and a revocation first checkpoint the head with the key being replaced', async () => {
    const m = await h.merchant();
    await issue(m.merchantKey, 3);
    const before = (await h.call('GET', `/.well-known/jwks.json`)).body.keys.find(
      (k: { kid: string }) => k.kid.startsWith(`${m.merchantId}-`),
    ).kid;
    const rotated = await h.admin('POST', `/merchants/${m.merchantId}/signing-keys/rotate`);
    expect(rotated.status).toBe(201);
    const list = async () =>
      (await h.call('GET', '/api/v1/trust/checkpoints', { key: m.auditorKey })).body.checkpoints;
    const [atRotation] = await list();
    expect(atRotation).toMatchObject({ seq: 3, signingKeyKid: before });
    // It verifies with the old key: signed before the key's exp, the rotation time.
    const [receiptId] = await issue(m.merchantKey, 1);
    const receipt = (
      await h.call('GET', `/api/v1/trust/receipts/${receiptId}`, { key: m.auditorKey })
    ).body;
    const keys = await history(receipt);
    const { verifyCheckpoint } = await import('@quittance/verifier');
    const verdict = await verifyCheckpoint(atRotation, keys);
    expect(verdict.claims.signature_valid.status).toBe('asserted');
    expect(verdict.claims.key_valid_at_issuance.status).toBe('asserted');

    // Revoking the active key now: the key being revoked signs seq 4 first, validly.
    const revoked = await h.admin('POST', `/signing-keys/${rotated.body.kid}/revoke`, {
      reason: 'superseded',
    });
    expect(revoked.status).toBe(200);
    const [atRevocation] = await list();
    expect(atRevocation).toMatchObject({ seq: 4, signingKeyKid: rotated.body.kid });
    expect(Date.parse(atRevocation.createdAt)).toBeLessThan(Date.parse(revoked.body.revokedAt));
    const after = await history({
      jwksSnapshotUrl: `http://quittance.test/.well-known/jwks/snapshot/${atRevocation.createdAt.slice(0, 7)}.json`,
    });
    // Signed by a key revoked since, before its revokedAt: like a receipt, only a timestamp
    // from before the revocation could prove that (SPEC §5), so without one it is unknown.
    const atRevocationVerdict = await verifyCheckpoint(atRevocation, after);
    expect(atRevocationVerdict.claims.signature_valid.status).toBe('asserted');
    expect(atRevocationVerdict.claims.key_valid_at_issuance.status).toBe('unknown');
    // Nothing new since: a second change makes no second checkpoint of the same head.
    await h.admin('POST', `/merchants/${m.merchantId}/signing-keys/rotate`);
    expect((await list()).length).toBe(2);
  });

  it('a revocation dated back past a checkpoint: proofs and evidence use the newest checkpoint still valid', async () => {
    // Found by the soak: evidence answered 200 against the newest checkpoint, signed after
    // the revocation's date by the revoked key, and the bundle did not verify.
    const m = await h.merchant();
    for (let i = 0; i < 3; i++)
      await h.call('POST', '/api/v1/trust/receipts', {
        key: m.merchantKey,
        body: issueBody({ orderId: 'before-compromise' }),
      });
    await checkpointNow(); // 3, valid
    const compromisedSince = new Date(Date.now() + 5).toISOString();
    await new Promise((resolve) => setTimeout(resolve, 10));
    await issue(m.merchantKey, 2);
    await checkpointNow(); // 5, signed after compromisedSince by the key revoked below
    const kid = (await h.call('GET', '/api/v1/trust/checkpoints', { key: m.auditorKey })).body
      .checkpoints[0].signingKeyKid;
    const revoked = await h.admin('POST', `/signing-keys/${kid}/revoke`, {
      reason: 'keyCompromise',
      revokedAt: compromisedSince,
    });
    expect(revoked.status).toBe(200);
    const [first] = (
      await h.call('GET', '/api/v1/trust/receipts/by-order/before-compromise', {
        key: m.auditorKey,
      })
    ).body.receipts;
    const proof = await h.call('GET', `/api/v1/trust/receipts/${first.id}/proof`, {
      key: m.auditorKey,
    });
    expect(proof.body.treeSize).toBe(3);
    const res = await h.app.request('/api/v1/trust/receipts/by-order/before-compromise/evidence', {
      headers: { authorization: `Bearer ${m.auditorKey}` },
    });
    expect(res.status).toBe(200);
    const dir = await mkdtemp(join(tmpdir(), 'quittance-evidence-'));
    try {
      await writeFile(join(dir, 'e.zip'), Buffer.from(await res.arrayBuffer()));
      const publisher = parsePublisherKeys(
        (await h.call('GET', '/.well-known/quittance-publisher.json')).body,
      );
      const report = await verifyBundle(join(dir, 'e.zip'), { publisher });
      // Signed before the revocation's date: unknown without a timestamp (no TSA here), never
      // refuted as the checkpoint signed after that date would be.
      expect(report.claims.checkpoints_valid?.status, report.claims.checkpoints_valid?.reason).toBe(
        'unknown',
      );
      expect(report.claims.checkpoints_valid?.reason).toContain('checkpoint seq 3');
      expect(report.ok).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a revocation dated back past the newest checkpoint of a log that then stays still: the job signs that head again at once with the replacement key', async () => {
    // Before, the receipts after the last valid checkpoint had no proof (404 not_checkpointed)
    // until the merchant issued again: the job only checkpointed a head that had moved.
    const m = await h.merchant();
    await issue(m.merchantKey, 3);
    await checkpointNow(); // 3, valid
    const [fourth, fifth] = await issue(m.merchantKey, 2);
    const compromisedSince = new Date(Date.now() + 5).toISOString();
    await new Promise((resolve) => setTimeout(resolve, 10));
    await checkpointNow(); // 5, signed after compromisedSince by the key revoked below
    const list = async () =>
      (await h.call('GET', '/api/v1/trust/checkpoints', { key: m.auditorKey })).body.checkpoints;
    const revoked = await h.admin(
      'POST',
      `/signing-keys/${(await list())[0].signingKeyKid}/revoke`,
      {
        reason: 'keyCompromise',
        revokedAt: compromisedSince,
      },
    );
    expect(revoked.status).toBe(200);
    const proofOf = (id: string) =>
      h.call('GET', `/api/v1/trust/receipts/${id}/proof`, { key: m.auditorKey });
    expect((await proofOf(fifth as string)).body.code).toBe('not_checkpointed');

    // The job's own rule (every 1,000 receipts or every hour here): due at once all the same.
    expect(await createDueCheckpoints(h.services)).toBeGreaterThanOrEqual(1);
    const after = await list();
    expect(after.map((c: { seq: number }) => c.seq)).toEqual([5, 3]);
    expect(after[0].signingKeyKid).toBe(revoked.body.replacementKid);
    for (const id of [fourth, fifth] as string[]) {
      const proof = await proofOf(id);
      expect(proof.status).toBe(200);
      expect(proof.body.treeSize).toBe(5);
      const receipt = (await h.call('GET', `/api/v1/trust/receipts/${id}`, { key: m.auditorKey }))
        .body;
      const report = await verifyReceipt(receipt, await history(receipt), { proof: proof.body });
      expect(report.claims.included_in_log?.status).toBe('asserted');
    }
    // Replaced once: the new one is valid, so nothing is due any more.
    expect(await createDueCheckpoints(h.services)).toBe(0);
    expect((await list())[0].signingKeyKid).toBe(revoked.body.replacementKid);
  });

  it('a checkpoint signed again while its timestamp was being requested gets no token for the old signature', async () => {
    // The timestamp job leases a checkpoint, asks the TSA over its signature, then writes the
    // token: only onto that signature, not onto the one the checkpoint job put in its place.
    const tsa = await startTsaServer();
    try {
      const timestamper = await TsaTimestamper.fromConfig(tsa.url, tsa.trustPemPath, 5_000);
      const m = await h.merchant();
      await issue(m.merchantKey, 2);
      const compromisedSince = new Date(Date.now() + 5).toISOString();
      await new Promise((resolve) => setTimeout(resolve, 10));
      await checkpointNow(); // 2, signed after compromisedSince
      const row = async () =>
        (
          await h.services.db
            .select()
            .from(checkpoints)
            .where(and(eq(checkpoints.merchantId, m.merchantId), eq(checkpoints.seq, 2)))
        )[0] as typeof checkpoints.$inferSelect;
      const before = await row();
      await h.admin('POST', `/signing-keys/${before.signingKeyKid}/revoke`, {
        reason: 'keyCompromise',
        revokedAt: compromisedSince,
      });
      const racing = {
        trustAnchors: timestamper.trustAnchors,
        existedBy: timestamper.existedBy.bind(timestamper),
        async stamp(...args: Parameters<typeof timestamper.stamp>) {
          await createDueCheckpoints(h.services); // signs checkpoint 2 again meanwhile
          return timestamper.stamp(...args);
        },
      };
      await timestampCheckpoint(h.services, racing, m.merchantId, 2);
      const after = await row();
      expect(after.jws).not.toBe(before.jws);
      expect(after.timestamp).toBeNull();
      // The next run stamps the new signature.
      expect(await timestampCheckpoint(h.services, timestamper, m.merchantId, 2)).toBe('attached');
      const stamped = await row();
      const report = await verifyTimestampToken(
        Buffer.from((stamped.timestamp as { token: string }).token, 'base64'),
        {
          imprint: await timestampImprint(stamped.jws),
          trustAnchors: timestamper.trustAnchors,
        },
      );
      expect(report.genTime).toBeInstanceOf(Date);
    } finally {
      await tsa.close();
    }
  });

  it('order evidence: one zip per order that verifies offline; agents get their own receipts, no bodies', async () => {
    const m = await h.merchant();
    const order = (agentId: string) =>
      h.call('POST', '/api/v1/trust/receipts', {
        key: m.merchantKey,
        body: issueBody({ agentId, orderId: 'order-ev' }),
      });
    await order('agent-1');
    await issue(m.merchantKey, 2);
    await order('agent-2');
    await order('agent-1');
    const evidence = (key: string, query = '') =>
      h.app.request(`/api/v1/trust/receipts/by-order/order-ev/evidence${query}`, {
        headers: { authorization: `Bearer ${key}` },
      });
    const early = await evidence(m.merchantKey);
    expect(early.status).toBe(404);
    expect((await early.json()).code).toBe('not_checkpointed');
    await checkpointNow();

    const dir = await mkdtemp(join(tmpdir(), 'quittance-evidence-'));
    try {
      const publisher = parsePublisherKeys(
        (await h.call('GET', '/.well-known/quittance-publisher.json')).body,
      );
      const full = await evidence(m.auditorKey, '?includeBodies=true');
      expect(full.status).toBe(200);
      expect(full.headers.get('content-type')).toBe('application/zip');
      await writeFile(join(dir, 'all.zip'), Buffer.from(await full.arrayBuffer()));
      const all = await verifyBundle(join(dir, 'all.zip'), { publisher, keepReceipts: true });
      expect(all.ok).toBe(true);
      expect(all.kind).toBe('order-evidence');
      expect(all.receipts).toHaveLength(3);
      for (const r of all.receipts) {
        expect(r.claims.included_in_log?.status).toBe('asserted');
        expect(r.claims.body_matches?.status).toBe('asserted');
      }

      const own = await evidence(m.agent1Key);
      await writeFile(join(dir, 'agent.zip'), Buffer.from(await own.arrayBuffer()));
      const mine = await verifyBundle(join(dir, 'agent.zip'), { publisher, keepReceipts: true });
      expect(mine.ok).toBe(true);
      expect(mine.receipts).toHaveLength(2);
      expect((await evidence(m.agent1Key, '?includeBodies=true')).status).toBe(403);
      expect((await evidence(m.agent1Key, '?includeBodies=yes')).status).toBe(400);
      const other = await h.merchant();
      expect((await evidence(other.merchantKey)).status).toBe(404);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('64 concurrent issuers while checkpoints are made: every root recomputes, consecutive checkpoints are consistent', async () => {
    const m = await h.merchant();
    let stop = false;
    const checkpointer = (async () => {
      while (!stop) {
        await checkpointNow();
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await Promise.all(
      Array.from({ length: 64 }, () =>
        h.call('POST', '/api/v1/trust/receipts', { key: m.merchantKey, body: issueBody() }),
      ),
    );
    stop = true;
    await checkpointer;
    await checkpointNow();
    const entries = await entriesOf(m.merchantId);
    expect(entries).toHaveLength(64);
    const list = (await h.call('GET', '/api/v1/trust/checkpoints', { key: m.auditorKey })).body
      .checkpoints as { seq: number; rootHash: string }[];
    expect(list[0]?.seq).toBe(64);
    for (const c of list) expect(c.rootHash).toBe(await merkleRoot(entries.slice(0, c.seq)));
    const ascending = [...list].reverse();
    for (let i = 1; i < ascending.length; i++) {
      const [from, to] = [ascending[i - 1], ascending[i]] as [
        { seq: number; rootHash: string },
        { seq: number; rootHash: string },
      ];
      const r = await h.call(
        'GET',
        `/api/v1/trust/checkpoints/consistency?from=${from.seq}&to=${to.seq}`,
        { key: m.auditorKey },
      );
      expect(
        await verifyConsistency({
          from: from.seq,
          to: to.seq,
          fromRoot: from.rootHash,
          toRoot: to.rootHash,
          proof: r.body.proof,
        }),
      ).toEqual({ ok: true });
    }
  });
});

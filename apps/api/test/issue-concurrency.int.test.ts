import { merkleFrontier } from '@quittance/format';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkChain } from '../src/chain/chain-check';
import { createHarness, type Harness, issueBody } from './harness';

// One append statement in flight (the default), and four, which the setting allows: then
// this process's own statements race for the chain-head locks too.
describe.each(['1', '4'])(
  'concurrent issuance on real PostgreSQL, %s append(s) in flight',
  (inFlight) => {
    let h: Harness;
    beforeAll(async () => {
      h = await createHarness({ env: { QUITTANCE_APPEND_IN_FLIGHT: inFlight } });
    });
    afterAll(async () => {
      await h.close();
    });

    it('64 concurrent issues for one merchant make one gapless chain, seq 1..64', async () => {
      const m = await h.merchant();
      const results = await Promise.all(
        Array.from({ length: 64 }, (_, i) =>
          h.call('POST', '/api/v1/trust/receipts', {
            key: m.merchantKey,
            body: issueBody({ callId: `call-${i}` }),
          }),
        ),
      );
      expect(results.map((r) => r.status)).toEqual(Array(64).fill(201));
      const seqs = results.map((r) => r.body.chain.seq).sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
      expect(new Set(results.map((r) => r.body.id)).size).toBe(64);
      const check = await checkChain(h.services.db, m.merchantId);
      expect(check).toMatchObject({ ok: true, checked: 64, head: { seq: 64 }, problems: [] });
      // The returned envelopes are the stored links.
      const bySeq = new Map(results.map((r) => [r.body.chain.seq, r.body.chain]));
      for (let seq = 2; seq <= 64; seq++)
        expect(bySeq.get(seq)?.prevHash).toBe(bySeq.get(seq - 1)?.entryHash);
      expect(h.services.appender.stats.batches).toBeLessThan(64);
    });

    it('20 concurrent requests with one callId make one receipt and one chain entry', async () => {
      const m = await h.merchant();
      const body = issueBody({ callId: 'same-call' });
      const results = await Promise.all(
        Array.from({ length: 20 }, () =>
          h.call('POST', '/api/v1/trust/receipts', { key: m.merchantKey, body }),
        ),
      );
      expect(results.filter((r) => r.status === 201)).toHaveLength(1);
      expect(results.filter((r) => r.status === 200)).toHaveLength(19);
      expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
      const list = await h.call('GET', '/api/v1/trust/receipts', { key: m.merchantKey });
      expect(list.body.receipts).toHaveLength(1);
      expect(await checkChain(h.services.db, m.merchantId)).toMatchObject({ ok: true, checked: 1 });
    });

    it('replays with the same content answer 200; different content answers 409', async () => {
      const m = await h.merchant();
      const body = issueBody();
      const first = await h.call('POST', '/api/v1/trust/receipts', { key: m.merchantKey, body });
      const replay = await h.call('POST', '/api/v1/trust/receipts', { key: m.merchantKey, body });
      expect([first.status, replay.status]).toEqual([201, 200]);
      expect(replay.body).toEqual(first.body);
      for (const change of [
        { agentId: 'agent-2' },
        { orderId: 'order-2' },
        { nonce: 'n-1' },
        { output: { ok: false } },
        { tool: 'x' },
        { bucket: 'customer' },
      ]) {
        const conflict = await h.call('POST', '/api/v1/trust/receipts', {
          key: m.merchantKey,
          body: { ...body, ...change },
        });
        expect(conflict.status).toBe(409);
        expect(conflict.body.code).toBe('call_id_conflict');
      }
      // Same content as hashes instead of bodies is the same content.
      const { input, output, ...rest } = body;
      const asHashes = await h.call('POST', '/api/v1/trust/receipts', {
        key: m.merchantKey,
        body: { ...rest, inputHash: first.body.inputHash, outputHash: first.body.outputHash },
      });
      expect(asHashes.status).toBe(200);
      expect(await checkChain(h.services.db, m.merchantId)).toMatchObject({ ok: true, checked: 1 });
    });

    it('concurrent merchants keep separate chains', async () => {
      const [a, b] = await Promise.all([h.merchant(), h.merchant()]);
      await Promise.all(
        [a, b].flatMap((m) =>
          Array.from({ length: 10 }, (_, i) =>
            h.call('POST', '/api/v1/trust/receipts', {
              key: m.merchantKey,
              body: issueBody({ callId: `c${i}` }),
            }),
          ),
        ),
      );
      for (const m of [a, b])
        expect(await checkChain(h.services.db, m.merchantId)).toMatchObject({
          ok: true,
          checked: 10,
        });
    });

    it('the tree grows server-side to the frontier format computes; a lost frontier is rebuilt', async () => {
      const m = await h.merchant();
      const issue = (from: number, count: number) =>
        Promise.all(
          Array.from({ length: count }, (_, i) =>
            h.call('POST', '/api/v1/trust/receipts', {
              key: m.merchantKey,
              body: issueBody({ callId: `tree-${from + i}` }),
            }),
          ),
        );
      const stored = async () => {
        const rows = (await h.services.db.execute(
          sql`select array_to_json(frontier)::text as frontier from chain_heads where merchant_id = ${m.merchantId}`,
        )) as unknown as { frontier: string }[];
        return JSON.parse((rows[0] as { frontier: string }).frontier) as string[];
      };
      const expected = async () => {
        const rows = (await h.services.db.execute(
          sql`select entry_hash from receipts where merchant_id = ${m.merchantId} order by seq`,
        )) as unknown as { entry_hash: string }[];
        return merkleFrontier(rows.map((r) => r.entry_hash));
      };
      expect((await issue(0, 37)).every((r) => r.status === 201)).toBe(true);
      expect(await stored()).toEqual(await expected());
      // A chain written before the frontier was kept: the next append rebuilds it first.
      await h.services.db.execute(
        sql`update chain_heads set frontier = '{}' where merchant_id = ${m.merchantId}`,
      );
      expect((await issue(37, 6)).every((r) => r.status === 201)).toBe(true);
      expect(await stored()).toEqual(await expected());
      expect(await stored()).toHaveLength(4); // 43 = 32 + 8 + 2 + 1
    });
  },
);

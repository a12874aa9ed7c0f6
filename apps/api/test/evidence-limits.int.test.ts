import { receipts } from '@quittance/db';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_EVIDENCE_BODY_BYTES, MAX_EVIDENCE_RECEIPTS } from '../src/transparency/evidence';
import { createHarness, expectProblem, type Harness, issueBody } from './harness';

// Order evidence is built in memory within a request. The soak found agents that asked
// again and again for the evidence of a 3,000-receipt order nearly stopped the embedded
// service (issuance 305/s → 1/s): each 503 after the request budget left its build running,
// and every retry started another. Now an order past the cap is refused with a stable code,
// identical requests waiting for a turn share one build, and builds take turns.

describe.each([
  ['the embedded PGlite', true],
  ['PostgreSQL', false],
])('on %s, order evidence stays bounded', (_, embedded) => {
  let h: Harness;
  let m: Awaited<ReturnType<Harness['merchant']>>;

  const evidence = (key: string, order: string, query = '') =>
    h.app.request(`/api/v1/trust/receipts/by-order/${order}/evidence${query}`, {
      headers: { authorization: `Bearer ${key}` },
    });

  beforeAll(async () => {
    h = await createHarness({ embedded });
    m = await h.merchant();
    const issue = async (agentId: string, orderId: string) => {
      const r = await h.call('POST', '/api/v1/trust/receipts', {
        key: m.merchantKey,
        body: issueBody({ agentId, orderId }),
      });
      expect(r.status).toBe(201);
    };
    const large = MAX_EVIDENCE_RECEIPTS + 1;
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < large) {
          next++;
          await issue('agent-1', 'large');
        }
      }),
    );
    await issue('agent-2', 'large');
    for (let i = 0; i < 3; i++) await issue('agent-1', 'small');
    await h.checkpointNow();
  }, 120_000);
  afterAll(async () => {
    await h?.close();
  });

  it(`an order of more than ${MAX_EVIDENCE_RECEIPTS} receipts the key sees: 422 order_too_large, not a partial bundle`, async () => {
    for (const key of [m.merchantKey, m.agent1Key]) {
      const res = await evidence(key, 'large');
      const body = await res.json();
      expectProblem({ status: res.status, body, headers: res.headers }, 422, 'order_too_large');
      expect(body.detail).toContain('GET /receipts?orderId=');
    }
    // What a key sees is what counts: agent-2 has one receipt of that order.
    const own = await evidence(m.agent2Key, 'large');
    expect(own.status).toBe(200);
    // The order's listing still holds them all (its own cap is higher).
    const listed = await h.call('GET', '/api/v1/trust/receipts/by-order/large', {
      key: m.auditorKey,
    });
    expect(listed.status).toBe(200);
    expect(listed.body.receipts).toHaveLength(MAX_EVIDENCE_RECEIPTS + 2);
  });

  it(`bodies of more than ${MAX_EVIDENCE_BODY_BYTES / 2 ** 20} MiB: 422 with includeBodies, 200 without`, async () => {
    // Bodies of up to 1 MiB a request: an order of a few hundred such receipts would be
    // gigabytes built in memory.
    const text = 'x'.repeat(450_000);
    const count = Math.ceil(MAX_EVIDENCE_BODY_BYTES / 900_000) + 1;
    for (let i = 0; i < count; i++) {
      const r = await h.call('POST', '/api/v1/trust/receipts', {
        key: m.merchantKey,
        body: issueBody({ orderId: 'heavy', input: { text }, output: { text } }),
      });
      expect(r.status).toBe(201);
    }
    await h.checkpointNow();
    const res = await evidence(m.auditorKey, 'heavy', '?includeBodies=true');
    const body = await res.json();
    expectProblem({ status: res.status, body, headers: res.headers }, 422, 'order_too_large');
    expect(body.detail).toMatch(/MiB.*without includeBodies/);
    expect((await evidence(m.auditorKey, 'heavy')).status).toBe(200);
  });

  // Large listings are kept and given again while the order's version is the same: each read
  // must still see what changed since (a receipt added, a timestamp attached).
  it('a large order listing given again shows a receipt added and a timestamp attached since', async () => {
    const list = () =>
      h.call('GET', '/api/v1/trust/receipts/by-order/large', { key: m.merchantKey });
    const first = await list();
    expect(first.status).toBe(200);
    expect((await list()).body).toEqual(first.body);
    const added = await h.call('POST', '/api/v1/trust/receipts', {
      key: m.merchantKey,
      body: issueBody({ agentId: 'agent-1', orderId: 'large' }),
    });
    expect(added.status).toBe(201);
    const grown = await list();
    expect(grown.body.receipts).toHaveLength(first.body.receipts.length + 1);
    expect(grown.body.receipts.at(-1).id).toBe(added.body.id);
    // As the timestamp job attaches one (the only change to a stored receipt).
    const untimed = grown.body.receipts.find((r: any) => r.timestamp === null);
    expect(untimed).toBeDefined();
    const token = { token: 'AAAA', genTime: '2026-01-01T00:00:00Z' };
    await h.services.db
      .update(receipts)
      .set({ timestamp: token, legalPosture: 'ades_candidate_timestamped' })
      .where(eq(receipts.id, untimed.id));
    const stamped = (await list()).body.receipts.find((r: any) => r.id === untimed.id);
    expect(stamped).toMatchObject({
      timestamp: token,
      legal_posture: 'ades_candidate_timestamped',
    });
    // An agent sees its own receipts of the order, not the merchant's kept answer.
    const own = await h.call('GET', '/api/v1/trust/receipts/by-order/large', { key: m.agent2Key });
    expect(own.body.receipts).toHaveLength(1);
  });

  // A build already running is not joined: it may have read before the joiner's own receipts
  // committed. So six at once make at least two builds: the first, and those that waited.
  it('identical requests waiting for a turn share one build; a later one is built anew', async () => {
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => evidence(m.auditorKey, 'small', '?includeBodies=true')),
    );
    const zips = await Promise.all(
      answers.map(async (res) => {
        expect(res.status).toBe(200);
        return Buffer.from(await res.arrayBuffer());
      }),
    );
    const digests = answers.map((res) => res.headers.get('x-content-sha256') as string);
    // How many arrive while the first is built depends on timing; some always share.
    expect(new Set(digests).size).toBeLessThan(answers.length);
    for (const [i, zip] of zips.entries())
      expect(zip.equals(zips[digests.indexOf(digests[i] as string)] as Buffer)).toBe(true);
    // Asked once the shared build was answered, each is built anew (an agent sees less, and
    // bodies make another bundle).
    const [merchant, agent, noBodies] = await Promise.all([
      evidence(m.merchantKey, 'small', '?includeBodies=true'),
      evidence(m.agent1Key, 'small'),
      evidence(m.auditorKey, 'small'),
    ]);
    for (const res of [merchant, agent, noBodies]) expect(res.status).toBe(200);
    const later = new Set(
      [merchant, agent, noBodies].map((res) => res.headers.get('x-content-sha256')),
    );
    expect(later.size).toBe(3);
    for (const digest of digests) expect(later.has(digest)).toBe(false);
  });
});

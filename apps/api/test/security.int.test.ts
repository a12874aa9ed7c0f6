import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createHarness, type Harness, issueBody } from './harness';

let h: Harness;
let own: Awaited<ReturnType<Harness['merchant']>>;
let other: Awaited<ReturnType<Harness['merchant']>>;
let ownByAgent1: string;
let ownByAgent2: string;
let otherByAgent1: string;

const issue = async (m: typeof own, agentId: string, orderId: string) => {
  const r = await h.call('POST', '/api/v1/trust/receipts', {
    key: m.merchantKey,
    body: issueBody({ agentId, orderId }),
  });
  expect(r.status).toBe(201);
  return r.body.id as string;
};

beforeAll(async () => {
  h = await createHarness();
  own = await h.merchant();
  other = await h.merchant();
  ownByAgent1 = await issue(own, 'agent-1', 'order-a');
  ownByAgent2 = await issue(own, 'agent-2', 'order-a');
  otherByAgent1 = await issue(other, 'agent-1', 'order-a');
});
afterAll(async () => {
  await h.close();
});

type Role = 'merchant' | 'auditor' | 'agent1' | 'agent2';
const keyOf = (role: Role) =>
  ({
    merchant: own.merchantKey,
    auditor: own.auditorKey,
    agent1: own.agent1Key,
    agent2: own.agent2Key,
  })[role];

describe('security matrix: role × own/other merchant × route', () => {
  it.each<[Role, number]>([
    ['merchant', 201],
    ['auditor', 403],
    ['agent1', 403],
  ])('POST /receipts as %s → %i', async (role, status) => {
    const r = await h.call('POST', '/api/v1/trust/receipts', {
      key: keyOf(role),
      body: issueBody(),
    });
    expect(r.status).toBe(status);
    if (status === 403) expect(r.body.code).toBe('forbidden');
  });

  it.each<[Role, string, number]>([
    ['merchant', 'ownByAgent1', 200],
    ['merchant', 'ownByAgent2', 200],
    ['merchant', 'otherByAgent1', 404],
    ['auditor', 'ownByAgent1', 200],
    ['auditor', 'otherByAgent1', 404],
    ['agent1', 'ownByAgent1', 200],
    ['agent1', 'ownByAgent2', 404],
    ['agent1', 'otherByAgent1', 404],
    ['agent2', 'ownByAgent1', 404],
    ['agent2', 'ownByAgent2', 200],
  ])('GET /receipts/{id} as %s for %s → %i', async (role, which, status) => {
    const id = { ownByAgent1, ownByAgent2, otherByAgent1 }[which] as string;
    const r = await h.call('GET', `/api/v1/trust/receipts/${id}`, { key: keyOf(role) });
    expect(r.status).toBe(status);
    if (status === 404) expect(r.body.code).toBe('not_found');
  });

  it.each<[Role, string, number]>([
    ['merchant', 'ownByAgent1', 200],
    ['merchant', 'otherByAgent1', 404],
    ['auditor', 'ownByAgent2', 200],
    ['auditor', 'otherByAgent1', 404],
    // An agent key may not read bodies: 403 for its own receipts, and 404 for those it may
    // not see at all (SPEC §8: 404, not 403, for a receipt a key may not see).
    ['agent1', 'ownByAgent1', 403],
    ['agent1', 'ownByAgent2', 404],
    ['agent1', 'otherByAgent1', 404],
  ])('GET /receipts/{id}/bodies as %s for %s → %i', async (role, which, status) => {
    const id = { ownByAgent1, ownByAgent2, otherByAgent1 }[which] as string;
    const r = await h.call('GET', `/api/v1/trust/receipts/${id}/bodies`, { key: keyOf(role) });
    expect(r.status).toBe(status);
  });

  it.each<[Role, string[]]>([
    ['merchant', ['ownByAgent1', 'ownByAgent2']],
    ['auditor', ['ownByAgent1', 'ownByAgent2']],
    ['agent1', ['ownByAgent1']],
    ['agent2', ['ownByAgent2']],
  ])('list and by-order as %s show only what the role may see', async (role, expected) => {
    const ids = expected.map((name) => ({ ownByAgent1, ownByAgent2 })[name as 'ownByAgent1']);
    const list = await h.call('GET', '/api/v1/trust/receipts?orderId=order-a', {
      key: keyOf(role),
    });
    expect(list.body.receipts.map((r: { id: string }) => r.id).sort()).toEqual([...ids].sort());
    const byOrder = await h.call('GET', '/api/v1/trust/receipts/by-order/order-a', {
      key: keyOf(role),
    });
    expect(byOrder.body.receipts.map((r: { id: string }) => r.id).sort()).toEqual([...ids].sort());
    // An agent asking for another agent's receipts by filter gets nothing.
    const spying = await h.call('GET', '/api/v1/trust/receipts?agentId=agent-2', {
      key: own.agent1Key,
    });
    expect(spying.body.receipts).toEqual([]);
  });

  const routes: [string, string][] = [
    ['POST', '/api/v1/trust/receipts'],
    ['GET', '/api/v1/trust/receipts'],
    ['GET', '/api/v1/trust/receipts/trcpt_01JD5Z7Q8M3V9K2X4N6P8R0T2W'],
    ['GET', '/api/v1/trust/receipts/by-order/order-a'],
    ['GET', '/api/v1/trust/receipts/trcpt_01JD5Z7Q8M3V9K2X4N6P8R0T2W/bodies'],
  ];

  it.each(routes)(
    '%s %s: missing, garbled, unknown and revoked keys → 401',
    async (method, path) => {
      const revoked = (
        await h.admin('POST', `/merchants/${own.merchantId}/api-keys`, { role: 'merchant' })
      ).body;
      expect((await h.admin('DELETE', `/api-keys/${revoked.prefix}`)).status).toBe(204);
      const garbled = `${own.merchantKey.slice(0, -2)}xx`;
      const unknown = 'qtk_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
      for (const headers of <Record<string, string>[]>[
        {},
        { authorization: 'Basic Zm9vOmJhcg==' },
        { authorization: `Bearer ${garbled}` },
        { authorization: `Bearer ${unknown}` },
        { authorization: 'Bearer not-a-key' },
        { authorization: `Bearer ${ADMIN_TOKEN}` },
        { authorization: `Bearer ${revoked.apiKey}` },
      ]) {
        const r = await h.call(method, path, {
          headers,
          ...(method === 'POST' ? { body: issueBody() } : {}),
        });
        expect(r.status, JSON.stringify(headers)).toBe(401);
        expect(r.body.code).toBe('unauthorized');
        expect(r.headers.get('content-type')).toBe('application/problem+json');
      }
    },
  );

  it("checkpoints are for every key of the merchant (SPEC 1.1 §8, §12), never another merchant's", async () => {
    // Agents get checkpoints inside their receipts' proofs anyway, and monitor the log with them.
    for (const key of [own.merchantKey, own.auditorKey, own.agent1Key])
      expect((await h.call('GET', '/api/v1/trust/checkpoints', { key })).status).toBe(200);
    const theirs = await h.call('GET', '/api/v1/trust/checkpoints', { key: other.agent1Key });
    expect(
      theirs.body.checkpoints.every(
        (c: { merchantId: string }) => c.merchantId === other.merchantId,
      ),
    ).toBe(true);
  });

  it('admin routes refuse API keys and a wrong token', async () => {
    for (const key of [own.merchantKey, 'wrong-admin-token-0123456789abcdef', '']) {
      const r = await h.call('POST', '/admin/v1/merchants', {
        key,
        body: { merchantId: 'x', jurisdiction: 'EU' },
      });
      expect(r.status).toBe(401);
    }
  });

  it('a revoked key stops working at once in the process that revoked it', async () => {
    const created = (
      await h.admin('POST', `/merchants/${own.merchantId}/api-keys`, { role: 'auditor' })
    ).body;
    expect((await h.call('GET', '/api/v1/trust/receipts', { key: created.apiKey })).status).toBe(
      200,
    );
    await h.admin('DELETE', `/api-keys/${created.prefix}`);
    expect((await h.call('GET', '/api/v1/trust/receipts', { key: created.apiKey })).status).toBe(
      401,
    );
  });
});

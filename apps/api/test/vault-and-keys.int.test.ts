import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { receiptBodies, receipts } from '@quittance/db';
import { createKmsClient } from '@quittance/signer';
import { type KmsTestServer, startKmsServer } from '@quittance/test-tooling';
import { loadKeyHistory, parsePublisherKeys, verifyReceipt } from '@quittance/verifier';
import { eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkChain } from '../src/chain/chain-check';
import { createHarness, type Harness, issueBody } from './harness';

let h: Harness;
let kms: KmsTestServer;

beforeAll(async () => {
  kms = await startKmsServer();
  const client = await createKmsClient({
    endpoint: kms.url,
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'x' },
  });
  const vaultKey = await client.send(new CreateKeyCommand({}));
  const publisherKey = await client.send(
    new CreateKeyCommand({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' }),
  );
  h = await createHarness({
    kmsClient: client,
    env: {
      QUITTANCE_SIGNING_BACKEND: 'kms',
      QUITTANCE_VAULT_KMS_KEY_ID: vaultKey.KeyMetadata?.Arn as string,
      QUITTANCE_PUBLISHER_KMS_KEY_ID: publisherKey.KeyMetadata?.KeyId as string,
    },
  });
});
afterAll(async () => {
  await h.close();
  await kms.close();
});

const verifyAll = async (receiptList: any[]) => {
  const snapshot = (await h.call('GET', new URL(receiptList.at(-1).jwksSnapshotUrl).pathname)).body;
  const publisher = parsePublisherKeys(
    (await h.call('GET', '/.well-known/quittance-publisher.json')).body,
  );
  const history = await loadKeyHistory(snapshot, { publisher });
  return Promise.all(receiptList.map((r) => verifyReceipt(r, history)));
};

describe('with every key in KMS (signing keys, publisher, vault wrapping)', () => {
  it('issues receipts signed in KMS that verify, and vaults bodies under KMS-wrapped data keys', async () => {
    const m = await h.merchant();
    const body = issueBody({ input: { same: 'body' }, output: { same: 'body' } });
    const r = await h.call('POST', '/api/v1/trust/receipts', { key: m.merchantKey, body });
    expect(r.status).toBe(201);
    expect(kms.counts.Sign).toBeGreaterThan(0);
    expect(kms.counts.GenerateDataKey).toBeGreaterThan(0);
    const [report] = await verifyAll([r.body]);
    expect(report?.claims.signature_valid.status).toBe('asserted');
    expect(report?.claims.snapshot_authentic.status).toBe('asserted');
    const bodies = await h.call('GET', `/api/v1/trust/receipts/${r.body.id}/bodies`, {
      key: m.auditorKey,
    });
    expect(bodies.body).toMatchObject({ input: { same: 'body' }, output: { same: 'body' } });
  });

  it('stores different ciphertext for equal bodies, and an AAD swap does not decrypt', async () => {
    const [a, b] = [await h.merchant(), await h.merchant()];
    const body = issueBody({ input: { same: 'body' }, output: { same: 'body' } });
    const ra = await h.call('POST', '/api/v1/trust/receipts', { key: a.merchantKey, body });
    const rb = await h.call('POST', '/api/v1/trust/receipts', { key: b.merchantKey, body });
    const rows = await h.services.db
      .select()
      .from(receiptBodies)
      .where(inArray(receiptBodies.receiptId, [ra.body.id, rb.body.id]));
    expect(rows).toHaveLength(4);
    const hex = rows.map((row) => Buffer.from(row.ciphertext).toString('hex'));
    expect(new Set(hex).size).toBe(4);
    expect(new Set(rows.map((row) => Buffer.from(row.iv).toString('hex'))).size).toBe(4);
    for (const row of rows)
      expect(Buffer.from(row.ciphertext).includes(Buffer.from('"same"'))).toBe(false);

    const aInput = rows.find((row) => row.receiptId === ra.body.id && row.kind === 'input');
    const sealed = {
      vaultKeyId: aInput?.vaultKeyId as string,
      iv: aInput?.iv as Uint8Array,
      ciphertext: aInput?.ciphertext as Uint8Array,
    };
    const plain = await h.services.vault.decrypt({
      merchantId: a.merchantId,
      receiptId: ra.body.id,
      kind: 'input',
      ...sealed,
    });
    expect(new TextDecoder().decode(plain)).toBe('{"same":"body"}');
    await expect(
      h.services.vault.decrypt({
        merchantId: b.merchantId,
        receiptId: ra.body.id,
        kind: 'input',
        ...sealed,
      }),
    ).rejects.toMatchObject({ code: 'decrypt_failed' });
    await expect(
      h.services.vault.decrypt({
        merchantId: a.merchantId,
        receiptId: ra.body.id,
        kind: 'output',
        ...sealed,
      }),
    ).rejects.toMatchObject({ code: 'decrypt_failed' });
    await expect(
      h.services.vault.decrypt({
        merchantId: a.merchantId,
        receiptId: rb.body.id,
        kind: 'input',
        ...sealed,
      }),
    ).rejects.toMatchObject({ code: 'decrypt_failed' });
  });

  it('a receipt issued with hashes only has no bodies', async () => {
    const m = await h.merchant();
    const r = await h.call('POST', '/api/v1/trust/receipts', {
      key: m.merchantKey,
      body: {
        callId: 'h1',
        agentId: 'a',
        bucket: 'discovery',
        tool: 'search',
        inputHash: 'a'.repeat(64),
        outputHash: 'b'.repeat(64),
      },
    });
    expect(r.status).toBe(201);
    expect(r.body.orderId).toBeUndefined();
    expect(
      (await h.call('GET', `/api/v1/trust/receipts/${r.body.id}/bodies`, { key: m.merchantKey }))
        .status,
    ).toBe(404);
  });

  it('rotation retires the old key; revocation re-issues the snapshot; old receipts still verify', async () => {
    const m = await h.merchant();
    const before = await h.call('POST', '/api/v1/trust/receipts', {
      key: m.merchantKey,
      body: issueBody(),
    });
    const rotated = await h.admin('POST', `/merchants/${m.merchantId}/signing-keys/rotate`);
    expect(rotated.status).toBe(201);
    expect(rotated.body.kid).toMatch(new RegExp(`^${m.merchantId}-\\d{4}Q[1-4]-2$`));
    const after = await h.call('POST', '/api/v1/trust/receipts', {
      key: m.merchantKey,
      body: issueBody(),
    });
    expect(after.body.signingKeyKid).toBe(rotated.body.kid);
    expect(after.body.chain.seq).toBe(2);

    const revoked = await h.admin('POST', `/signing-keys/${rotated.body.kid}/revoke`, {
      reason: 'key_compromise',
    });
    expect(revoked.status).toBe(200);
    expect(revoked.body.replacementKid).toMatch(/-3$/);
    const third = await h.call('POST', '/api/v1/trust/receipts', {
      key: m.merchantKey,
      body: issueBody(),
    });
    expect(third.body.signingKeyKid).toBe(revoked.body.replacementKid);

    const [r1, r2, r3] = await verifyAll([before.body, after.body, third.body]);
    expect(r1?.claims.key_valid_at_issuance.status).toBe('asserted');
    // Signed before its revocation, no timestamp yet: not provable (SPEC §5).
    expect(r2?.claims.key_valid_at_issuance.status).toBe('unknown');
    expect(r3?.claims.key_valid_at_issuance.status).toBe('asserted');
    for (const report of [r1, r2, r3])
      expect(report?.claims.signature_valid.status).toBe('asserted');
    expect(
      (await h.admin('POST', `/signing-keys/${rotated.body.kid}/revoke`, { reason: 'again' }))
        .status,
    ).toBe(409);
    expect(await checkChain(h.services.db, m.merchantId)).toMatchObject({ ok: true, checked: 3 });
    const jwks = await h.call('GET', '/.well-known/jwks.json');
    expect(jwks.body.keys.map((k: { kid: string }) => k.kid)).not.toContain(rotated.body.kid);
    const stored = await h.services.db
      .select()
      .from(receipts)
      .where(eq(receipts.merchantId, m.merchantId));
    expect(stored).toHaveLength(3);
  });

  it('paginates newest first with a cursor that is stable under concurrent inserts', async () => {
    const m = await h.merchant();
    for (let i = 0; i < 5; i++)
      await h.call('POST', '/api/v1/trust/receipts', { key: m.merchantKey, body: issueBody() });
    const page1 = await h.call('GET', '/api/v1/trust/receipts?limit=2', { key: m.merchantKey });
    expect(page1.body.receipts.map((r: any) => r.chain.seq)).toEqual([5, 4]);
    await h.call('POST', '/api/v1/trust/receipts', { key: m.merchantKey, body: issueBody() });
    const page2 = await h.call(
      'GET',
      `/api/v1/trust/receipts?limit=2&cursor=${page1.body.nextCursor}`,
      { key: m.merchantKey },
    );
    expect(page2.body.receipts.map((r: any) => r.chain.seq)).toEqual([3, 2]);
    const page3 = await h.call(
      'GET',
      `/api/v1/trust/receipts?limit=2&cursor=${page2.body.nextCursor}`,
      { key: m.merchantKey },
    );
    expect(page3.body.receipts.map((r: any) => r.chain.seq)).toEqual([1]);
    expect(page3.body.nextCursor).toBeNull();
  });
});

describe('key changes racing with issuance', () => {
  it('a receipt issued while a rotation creates its new key stays valid afterwards', async () => {
    const local = await createHarness();
    try {
      const m = await local.merchant();
      // Hold the new key's creation back, as a slow KMS CreateKey would.
      const ring = local.services.keyRing as unknown as {
        factory: { create: (kid: string) => Promise<unknown> };
      };
      const create = ring.factory.create.bind(ring.factory);
      ring.factory.create = async (kid) => {
        await new Promise((r) => setTimeout(r, 300));
        return create(kid);
      };
      const rotation = local.admin('POST', `/merchants/${m.merchantId}/signing-keys/rotate`);
      await new Promise((r) => setTimeout(r, 100));
      const during = await local.call('POST', '/api/v1/trust/receipts', {
        key: m.merchantKey,
        body: issueBody(),
      });
      expect((await rotation).status).toBe(201);
      const after = await local.call('POST', '/api/v1/trust/receipts', {
        key: m.merchantKey,
        body: issueBody(),
      });
      const snapshot = (await local.call('GET', new URL(after.body.jwksSnapshotUrl).pathname)).body;
      const publisher = parsePublisherKeys(
        (await local.call('GET', '/.well-known/quittance-publisher.json')).body,
      );
      const history = await loadKeyHistory(snapshot, { publisher });
      for (const receipt of [during.body, after.body]) {
        expect((await verifyReceipt(receipt, history)).claims.key_valid_at_issuance.status).toBe(
          'asserted',
        );
      }
      expect(during.body.signingKeyKid).not.toBe(after.body.signingKeyKid);
    } finally {
      await local.close();
    }
  });
});

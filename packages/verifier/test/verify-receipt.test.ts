import { base64url, fromBase64url, type JwksSnapshot, type Receipt } from '@quittance/format';
import { LocalSigner } from '@quittance/signer';
import { makeReceipt, makeRevocation, makeSnapshot, publisherJwks } from '@quittance/test-tooling';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadKeyHistory, parsePublisherKeys, verifyReceipt } from '../src';

const merchantKey = LocalSigner.generate('acme-2026Q4');
const otherKey = LocalSigner.generate('acme-2026Q4');
const publisher = LocalSigner.generate('publisher-2026');
let receipt: Receipt;
let snapshot: JwksSnapshot;
let publisherKeys: ReturnType<typeof parsePublisherKeys>;

const NBF = '2026-10-01T00:00:00.000Z';

beforeAll(async () => {
  receipt = await makeReceipt({ signer: merchantKey, createdAt: '2026-11-20T10:15:30.123Z' });
  snapshot = await makeSnapshot({
    publisher,
    keys: [{ signer: merchantKey, merchantId: 'acme', nbf: NBF }],
  });
  publisherKeys = parsePublisherKeys(await publisherJwks(publisher));
});

const statusOf = async (r: unknown, s: unknown = snapshot, withPublisher = true) =>
  Object.fromEntries(
    Object.entries(
      (await verifyReceipt(r, s, withPublisher ? { publisher: publisherKeys } : {})).claims,
    ).map(([name, claim]) => [name, claim.status]),
  );

describe('a good receipt', () => {
  it('asserts signature, key validity, snapshot authenticity and the first chain link', async () => {
    expect(await statusOf(receipt)).toEqual({
      signature_valid: 'asserted',
      key_valid_at_issuance: 'asserted',
      timestamp_valid: 'unknown',
      chain_linked: 'asserted',
      included_in_log: 'unknown',
      snapshot_authentic: 'asserted',
    });
  });

  it('without a publisher key: snapshot unknown, key validity only operator-asserted', async () => {
    const report = await verifyReceipt(receipt, snapshot);
    expect(report.claims.snapshot_authentic.status).toBe('unknown');
    expect(report.claims.key_valid_at_issuance).toMatchObject({
      status: 'asserted',
      source: 'operator_asserted',
    });
  });

  it('with a plain JWKS: the signature verifies, key validity is unknown', async () => {
    const plain = { keys: [await merchantKey.publicJwk()] };
    expect(await statusOf(receipt, plain, false)).toMatchObject({
      signature_valid: 'asserted',
      key_valid_at_issuance: 'unknown',
      snapshot_authentic: 'unknown',
    });
    // A pinned publisher key that the key set does not carry is a failure, not a gap; the
    // key set then proves nothing about the key.
    expect(await statusOf(receipt, plain)).toMatchObject({
      signature_valid: 'asserted',
      key_valid_at_issuance: 'unknown',
      snapshot_authentic: 'refuted',
    });
  });

  it('a key history older than the receipt month cannot assert validity', async () => {
    const december = await makeReceipt({
      signer: merchantKey,
      createdAt: '2026-12-05T10:00:00.000Z',
    });
    const claims = await statusOf(december, snapshot);
    expect(claims.signature_valid).toBe('asserted');
    expect(claims.key_valid_at_issuance).toBe('unknown');
  });

  it('a receipt naming the snapshot of another month is refuted', async () => {
    const odd = await makeReceipt({
      signer: merchantKey,
      extra: {
        jwksSnapshotUrl: 'https://receipts.example.com/.well-known/jwks/snapshot/2026-08.json',
      },
    });
    expect((await statusOf(odd, snapshot)).key_valid_at_issuance).toBe('refuted');
  });

  it('checks disclosed bodies against their hashes', async () => {
    const withBodies = await verifyReceipt(receipt, snapshot, { bodies: { input: 'x' } });
    expect(withBodies.claims.body_matches?.status).toBe('refuted');
  });
});

describe('tampering refutes signature_valid', () => {
  const signedMembers: [string, unknown][] = [
    ['merchantId', 'evil'],
    ['callId', 'call-other'],
    ['agentId', 'agent-8'],
    ['orderId', 'order-43'],
    ['bucket', 'discovery'],
    ['tool', 'refund'],
    ['inputHash', 'c'.repeat(64)],
    ['outputHash', 'd'.repeat(64)],
    ['createdAt', '2026-11-20T10:15:30.124Z'],
    ['id', 'trcpt_01JD5Z7Q8M3V9K2X4N6P8R0T2X'],
    ['jwksSnapshotUrl', 'https://evil.example/jwks.json'],
    ['schemaVersion', '1 '],
    ['nonce', 'added'],
  ];
  it.each(signedMembers)('%s changed', async (name, value) => {
    const claims = await statusOf({ ...receipt, [name]: value });
    expect(claims.signature_valid).toBe('refuted');
  });

  it('orderId removed', async () => {
    const { orderId: _dropped, ...rest } = receipt;
    expect((await statusOf(rest)).signature_valid).toBe('refuted');
  });

  it('header changed (typ, extra member, other kid)', async () => {
    const [, signature] = receipt.jws.split('..') as [string, string];
    for (const header of [
      { alg: 'EdDSA', kid: 'acme-2026Q4', typ: 'JWT' },
      { alg: 'EdDSA', kid: 'acme-2026Q4', typ: 'quittance-receipt+jws', b64: false },
      { alg: 'EdDSA', kid: 'acme-2026Q3', typ: 'quittance-receipt+jws' },
      { alg: 'EdDSA', kid: 'acme-2026Q4', typ: 'quittance-receipt+jws', x: 1 },
    ]) {
      const jws = `${base64url(new TextEncoder().encode(JSON.stringify(header)))}..${signature}`;
      expect((await statusOf({ ...receipt, jws })).signature_valid).toBe('refuted');
    }
  });

  it('header re-serialized with the same members (signature covers the header bytes)', async () => {
    const spaced = base64url(
      new TextEncoder().encode('{"typ":"quittance-receipt+jws","kid":"acme-2026Q4","alg":"EdDSA"}'),
    );
    const jws = `${spaced}..${receipt.jws.split('..')[1]}`;
    expect((await statusOf({ ...receipt, jws })).signature_valid).toBe('refuted');
  });

  it('signature bit flipped or truncated', async () => {
    const [header, signature] = receipt.jws.split('..') as [string, string];
    const bytes = fromBase64url(signature);
    bytes[10] = (bytes[10] as number) ^ 0x01;
    expect(
      (await statusOf({ ...receipt, jws: `${header}..${base64url(bytes)}` })).signature_valid,
    ).toBe('refuted');
    const short = base64url(bytes.subarray(0, 63));
    expect((await statusOf({ ...receipt, jws: `${header}..${short}` })).signature_valid).toBe(
      'refuted',
    );
  });

  it('the key in the snapshot swapped for another', async () => {
    const swapped = await makeSnapshot({
      publisher,
      keys: [{ signer: otherKey, merchantId: 'acme', nbf: NBF }],
    });
    expect(await statusOf(receipt, swapped)).toMatchObject({
      signature_valid: 'refuted',
      snapshot_authentic: 'asserted',
    });
  });

  it('a snapshot key edited after signing: snapshot refuted, key validity unknown', async () => {
    const forged = structuredClone(snapshot);
    (forged.keys[0] as { x: string }).x = (await otherKey.publicJwk()).x;
    expect(await statusOf(receipt, forged)).toMatchObject({
      signature_valid: 'refuted',
      key_valid_at_issuance: 'unknown',
      snapshot_authentic: 'refuted',
    });
  });

  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty', 'zzz'])(
    'a member %s added, as JSON text would carry it: signature refuted, nothing else',
    async (name) => {
      const text = JSON.stringify(receipt).replace(/^\{/, `{${JSON.stringify(name)}:"x",`);
      expect(await statusOf(JSON.parse(text))).toMatchObject({
        signature_valid: 'refuted',
        key_valid_at_issuance: 'asserted',
        snapshot_authentic: 'asserted',
      });
    },
  );

  it.each(['__proto__', 'zzz'])(
    'a member %s added to the snapshot, as JSON text would carry it: snapshot refuted',
    async (name) => {
      const text = JSON.stringify(snapshot).replace(/^\{/, `{${JSON.stringify(name)}:"x",`);
      expect((await statusOf(receipt, JSON.parse(text))).snapshot_authentic).toBe('refuted');
    },
  );

  it('chain envelope edited: chain_linked refuted', async () => {
    const chain = { ...receipt.chain, seq: 2 };
    expect((await statusOf({ ...receipt, chain })).chain_linked).toBe('refuted');
  });
});

describe('key validity at issuance', () => {
  it('unknown kid → refuted (signature unknown)', async () => {
    const stranger = await makeReceipt({ signer: LocalSigner.generate('acme-2026Q3') });
    expect(await statusOf(stranger)).toMatchObject({
      signature_valid: 'unknown',
      key_valid_at_issuance: 'refuted',
    });
  });

  it('key of another merchant → refuted', async () => {
    const s = await makeSnapshot({
      publisher,
      keys: [{ signer: merchantKey, merchantId: 'globex', nbf: NBF }],
    });
    expect((await statusOf(receipt, s)).key_valid_at_issuance).toBe('refuted');
  });

  it('createdAt before nbf, at exp, after exp → refuted; just before exp → asserted', async () => {
    const at = async (nbf: string, exp: string | null) =>
      (
        await statusOf(
          receipt,
          await makeSnapshot({
            publisher,
            keys: [
              {
                signer: merchantKey,
                merchantId: 'acme',
                nbf,
                exp,
                status: exp ? 'retired' : 'active',
              },
            ],
          }),
        )
      ).key_valid_at_issuance;
    expect(await at('2026-11-20T10:15:30.124Z', null)).toBe('refuted');
    expect(await at(NBF, '2026-11-20T10:15:30.123Z')).toBe('refuted');
    expect(await at(NBF, '2026-11-01T00:00:00.000Z')).toBe('refuted');
    expect(await at(NBF, '2026-11-20T10:15:30.124Z')).toBe('asserted');
    expect(await at('2026-11-20T10:15:30.123Z', null)).toBe('asserted');
  });

  it('revoked before createdAt → refuted; after createdAt with no timestamp → unknown', async () => {
    // SPEC §5: a revoked key comes with its publisher-signed revocation statement.
    const revoked = async (revokedAt: string) =>
      makeSnapshot({
        publisher,
        revocations: [
          await makeRevocation(publisher, {
            kid: 'acme-2026Q4',
            revokedAt,
            reason: 'key_compromise',
          }),
        ],
        keys: [
          {
            signer: merchantKey,
            merchantId: 'acme',
            nbf: NBF,
            exp: revokedAt,
            status: 'revoked',
            revokedAt,
            revocationReason: 'key_compromise',
          },
        ],
      });
    expect(
      (await statusOf(receipt, await revoked('2026-11-15T00:00:00.000Z'))).key_valid_at_issuance,
    ).toBe('refuted');
    expect(
      (await statusOf(receipt, await revoked('2026-11-20T10:15:30.123Z'))).key_valid_at_issuance,
    ).toBe('refuted');
    expect(
      (await statusOf(receipt, await revoked('2026-11-21T00:00:00.000Z'))).key_valid_at_issuance,
    ).toBe('unknown');
  });

  it('a revocation statement without its revoked key, or not by the publisher, makes the snapshot inauthentic', async () => {
    const statement = await makeRevocation(publisher, {
      kid: 'acme-2026Q4',
      revokedAt: '2026-11-10T00:00:00.000Z',
      reason: 'key_compromise',
    });
    const s = await makeSnapshot({
      publisher,
      keys: [{ signer: merchantKey, merchantId: 'acme', nbf: NBF }],
      revocations: [statement],
    });
    // The key is still active in the snapshot: the statement contradicts it (SPEC §5).
    expect(await statusOf(receipt, s)).toMatchObject({
      snapshot_authentic: 'refuted',
      key_valid_at_issuance: 'unknown',
    });

    const bogus = await makeRevocation(LocalSigner.generate('publisher-2026'), {
      kid: 'acme-2026Q3',
      revokedAt: '2026-11-10T00:00:00.000Z',
      reason: 'x',
    });
    const s2 = await makeSnapshot({
      publisher,
      keys: [{ signer: merchantKey, merchantId: 'acme', nbf: NBF }],
      revocations: [bogus],
    });
    expect(await statusOf(receipt, s2)).toMatchObject({
      snapshot_authentic: 'refuted',
      key_valid_at_issuance: 'unknown',
    });
  });

  it('a snapshot signed by an unpinned key is refuted', async () => {
    const impostor = await makeSnapshot({
      publisher: LocalSigner.generate('publisher-2026'),
      keys: [{ signer: merchantKey, merchantId: 'acme', nbf: NBF }],
    });
    expect((await statusOf(receipt, impostor)).snapshot_authentic).toBe('refuted');
  });
});

describe('chain links', () => {
  it('asserts a link to the given previous entry and refutes a wrong one', async () => {
    const first = await makeReceipt({ signer: merchantKey });
    const second = await makeReceipt({
      signer: merchantKey,
      seq: 2,
      prevHash: first.chain.entryHash,
    });
    const history = await loadKeyHistory(snapshot, { publisher: publisherKeys });
    const linked = await verifyReceipt(second, history, {
      previousEntry: { seq: 1, entryHash: first.chain.entryHash },
    });
    expect(linked.claims.chain_linked.status).toBe('asserted');
    const alone = await verifyReceipt(second, history);
    expect(alone.claims.chain_linked.status).toBe('unknown');
    const wrong = await verifyReceipt(second, history, {
      previousEntry: { seq: 1, entryHash: 'e'.repeat(64) },
    });
    expect(wrong.claims.chain_linked.status).toBe('refuted');
  });
});

describe('malformed input', () => {
  it('a non-receipt refutes the signature claim with the reasons', async () => {
    const report = await verifyReceipt({ id: 'x' }, snapshot);
    expect(report.claims.signature_valid.status).toBe('refuted');
    expect(report.claims.signature_valid.reason).toContain('schemaVersion');
  });
  it('a key set that is not a JWKS is an error, not a verdict', async () => {
    await expect(verifyReceipt(receipt, { nope: 1 })).rejects.toMatchObject({
      code: 'invalid_key_set',
    });
  });
});

import {
  attachPayload,
  buildSignedReceipt,
  FormatError,
  planReceiptSignature,
  signedPart,
} from '@quittance/format';
import { type KmsTestServer, makeSnapshot, startKmsServer } from '@quittance/test-tooling';
import { loadKeyHistory, verifyReceipt } from '@quittance/verifier';
import { compactVerify, importJWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createKmsClient, KmsSigner, LocalSigner, signPlan } from '../src';

let kms: KmsTestServer;
const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };
const client = (maxAttempts = 1) =>
  createKmsClient({ endpoint: kms.url, maxAttempts, credentials });

beforeAll(async () => {
  // Every request of this file must carry a SigV4 signature that the endpoint's own
  // implementation of the specification checks, the SDK's requests and the lean Sign's alike.
  kms = await startKmsServer({ secretAccessKey: credentials.secretAccessKey });
});
afterAll(async () => {
  await kms.close();
});
beforeEach(() => {
  Object.assign(kms.faults, {
    throttle: 0,
    internalError: 0,
    shortSignature: 0,
    corruptSignature: 0,
    delayMs: 0,
    hang: false,
  });
});

function claims(kid: string) {
  return buildSignedReceipt({
    id: 'trcpt_01JD5Z7Q8M3V9K2X4N6P8R0T2W',
    merchantId: 'acme',
    request: {
      callId: 'c1',
      agentId: 'a1',
      bucket: 'checkout',
      tool: 'complete_checkout',
      orderId: 'o1',
    },
    inputHash: 'a'.repeat(64),
    outputHash: 'b'.repeat(64),
    createdAt: '2026-11-20T10:15:30.123Z',
    signingKeyKid: kid,
    jwksSnapshotUrl: 'https://q.example/.well-known/jwks/snapshot/2026-11.json',
  });
}

describe('KmsSigner through the real AWS SDK and the KMS-protocol endpoint', () => {
  it('signs with valid SigV4 through the SDK and the lean Sign; a wrong secret is refused', async () => {
    const signer = await KmsSigner.create({ client: await client(), kid: 'acme-sigv4' });
    const before = kms.counts.Sign ?? 0;
    const message = new TextEncoder().encode('x'.repeat(3000));
    // The first Sign follows the SDK's GetPublicKey, so both go through the lean call.
    for (let i = 0; i < 3; i++) expect(await signer.sign(message)).toHaveLength(64);
    expect(kms.counts.Sign).toBe(before + 3);
    expect(kms.withoutSdk.Sign).toBeGreaterThanOrEqual(3);
    expect(kms.withoutSdk.GetPublicKey).toBeUndefined();
    expect(kms.signatureFailures).toBe(0);

    const forged = new KmsSigner({
      client: await createKmsClient({
        endpoint: kms.url,
        maxAttempts: 1,
        credentials: { ...credentials, secretAccessKey: 'not-the-secret' },
      }),
      keyId: signer.keyId,
      kid: signer.kid,
    });
    await expect(forged.sign(message)).rejects.toThrow(/InvalidSignatureException/);
    expect(kms.signatureFailures).toBeGreaterThan(0);
  });

  it('creates an Ed25519 key, signs a receipt that the verifier and plain jose accept', async () => {
    const signer = await KmsSigner.create({ client: await client(), kid: 'acme-2026Q4' });
    expect(kms.counts.CreateKey).toBeGreaterThanOrEqual(1);
    const jwk = await signer.publicJwk();
    expect(jwk).toMatchObject({
      kty: 'OKP',
      crv: 'Ed25519',
      kid: 'acme-2026Q4',
      alg: 'EdDSA',
      use: 'sig',
    });

    const signed = claims(signer.kid);
    const plan = planReceiptSignature(signed);
    const { jws, signature } = await signPlan(plan, signer);
    expect(signature.length).toBe(64);
    const receipt = {
      ...signed,
      jws,
      legal_posture: 'signed' as const,
      timestamp: null,
      chain: { seq: 2, prevHash: 'c'.repeat(64), entryHash: 'd'.repeat(64) },
    };

    const publisher = LocalSigner.generate('publisher-1');
    const snapshot = await makeSnapshot({
      publisher,
      keys: [{ signer, merchantId: 'acme', nbf: '2026-10-01T00:00:00.000Z' }],
    });
    const report = await verifyReceipt(receipt, snapshot);
    expect(report.claims.signature_valid.status).toBe('asserted');
    expect(report.claims.key_valid_at_issuance.status).toBe('asserted');

    const attached = attachPayload(jws, signedPart(receipt));
    const verified = await compactVerify(attached, await importJWK(jwk, 'EdDSA'));
    expect(verified.protectedHeader).toEqual({
      alg: 'EdDSA',
      kid: 'acme-2026Q4',
      typ: 'quittance-receipt+jws',
    });
    expect(JSON.parse(new TextDecoder().decode(verified.payload))).toEqual(signed);
    expect(await loadKeyHistory(snapshot)).toBeTruthy();
  });

  it('refuses a signature that is not 64 bytes, or that does not verify', async () => {
    const signer = await KmsSigner.create({ client: await client(), kid: 'acme-2026Q4' });
    kms.faults.shortSignature = 1;
    await expect(signer.sign(new Uint8Array(10))).rejects.toMatchObject({
      code: 'invalid_signature',
    });
    kms.faults.corruptSignature = 1;
    await expect(signer.sign(new Uint8Array(10))).rejects.toMatchObject({
      code: 'invalid_signature',
    });
    expect((await signer.sign(new Uint8Array(10))).length).toBe(64);
  });

  it('surfaces throttling and outages as typed, retryable errors', async () => {
    const signer = await KmsSigner.create({ client: await client(), kid: 'acme-2026Q4' });
    await signer.publicJwk();
    kms.faults.throttle = 1;
    await expect(signer.sign(new Uint8Array(1))).rejects.toMatchObject({
      code: 'throttled',
      retryable: true,
    });
    kms.faults.internalError = 1;
    await expect(signer.sign(new Uint8Array(1))).rejects.toMatchObject({
      code: 'unavailable',
      retryable: true,
    });
  });

  it('lets the SDK retry throttling when attempts remain', async () => {
    const signer = await KmsSigner.create({ client: await client(3), kid: 'acme-2026Q4' });
    await signer.publicJwk();
    const before = kms.counts.Sign ?? 0;
    kms.faults.throttle = 2;
    expect((await signer.sign(new Uint8Array(1))).length).toBe(64);
    expect((kms.counts.Sign ?? 0) - before).toBe(3);
  });

  it('maps unknown, disabled and wrong-type keys to typed errors', async () => {
    const missing = new KmsSigner({
      client: await client(),
      keyId: '00000000-0000-0000-0000-000000000000',
      kid: 'x-2026Q4',
    });
    await expect(missing.sign(new Uint8Array(1))).rejects.toMatchObject({
      code: 'key_not_found',
      retryable: false,
    });

    const disabled = await KmsSigner.create({ client: await client(), kid: 'acme-2026Q4' });
    await disabled.publicJwk();
    const { DisableKeyCommand, CreateKeyCommand } = await import('@aws-sdk/client-kms');
    await (await client()).send(new DisableKeyCommand({ KeyId: disabled.keyId }));
    await expect(disabled.sign(new Uint8Array(1))).rejects.toMatchObject({ code: 'key_disabled' });

    const symmetric = await (await client()).send(new CreateKeyCommand({}));
    const wrong = new KmsSigner({
      client: await client(),
      keyId: symmetric.KeyMetadata?.KeyId as string,
      kid: 'y-2026Q4',
    });
    await expect(wrong.publicJwk()).rejects.toMatchObject({ code: 'invalid_key' });
  });

  it('reports an unreachable KMS as unavailable', async () => {
    const down = await startKmsServer();
    const url = down.url;
    await down.close();
    const signer = new KmsSigner({
      client: await createKmsClient({ endpoint: url, maxAttempts: 1, credentials }),
      keyId: 'k',
      kid: 'acme-2026Q4',
    });
    await expect(signer.sign(new Uint8Array(1))).rejects.toMatchObject({
      code: 'unavailable',
      retryable: true,
    });
  });

  it('refuses a 4097-byte signing input before KMS is called', async () => {
    const signer = await KmsSigner.create({ client: await client(), kid: 'acme-2026Q4' });
    const before = kms.counts.Sign ?? 0;
    const big = { ...claims(signer.kid), trust_provider_assertions: [{ blob: 'x'.repeat(4000) }] };
    expect(() => planReceiptSignature(big)).toThrow(FormatError);
    await expect(signer.sign(new Uint8Array(4097))).rejects.toMatchObject({
      code: 'message_too_large',
    });
    expect((kms.counts.Sign ?? 0) - before).toBe(0);
    expect(kms.counts.GetPublicKey ?? 0).toBeGreaterThan(0);
  });
});

describe('KMS that accepts requests and never answers', () => {
  it('a signature fails within the client deadline as a retryable error, then works again', async () => {
    const signer = await KmsSigner.create({ client: await client(), kid: 'acme-2026Q4' });
    kms.faults.hang = true;
    const started = Date.now();
    const failure = await signer.sign(new Uint8Array([1, 2, 3])).catch((e) => e);
    const took = Date.now() - started;
    kms.faults.hang = false;
    expect(failure).toMatchObject({ retryable: true });
    // One attempt of 2 s (this client is made with maxAttempts 1), not forever.
    expect(took).toBeLessThan(4_000);
    expect((await signer.sign(new Uint8Array([1, 2, 3]))).length).toBe(64);
  });
});

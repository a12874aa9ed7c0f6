import { bodyHash, canonicalJson } from '@quittance/format';
import { loadKeyHistory, parsePublisherKeys, verifyReceipt } from '@quittance/verifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, issueBody } from './harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h.close();
});

describe('issuing a receipt over HTTP', () => {
  it('returns 201 with a receipt that verifies against the served JWKS and snapshot', async () => {
    const m = await h.merchant();
    const request = issueBody();
    const issued = await h.call('POST', '/api/v1/trust/receipts', {
      key: m.merchantKey,
      body: request,
    });
    expect(issued.status).toBe(201);
    const receipt = issued.body;
    expect(receipt).toMatchObject({
      schemaVersion: '1',
      merchantId: m.merchantId,
      callId: request.callId,
      legal_posture: 'signed',
      timestamp: null,
      chain: { seq: 1, prevHash: '0'.repeat(64) },
    });
    expect(receipt.inputHash).toBe(await bodyHash(request.input));
    expect(receipt.jwksSnapshotUrl).toMatch(
      /^http:\/\/quittance\.test\/\.well-known\/jwks\/snapshot\/\d{4}-\d{2}\.json$/,
    );

    const jwks = await h.call('GET', '/.well-known/jwks.json');
    const plain = await verifyReceipt(receipt, jwks.body);
    expect(plain.claims.signature_valid.status).toBe('asserted');

    const snapshot = await h.call('GET', new URL(receipt.jwksSnapshotUrl).pathname);
    expect(snapshot.status).toBe(200);
    const publisher = parsePublisherKeys(
      (await h.call('GET', '/.well-known/quittance-publisher.json')).body,
    );
    const full = await verifyReceipt(receipt, await loadKeyHistory(snapshot.body, { publisher }));
    expect(full.claims).toMatchObject({
      signature_valid: { status: 'asserted' },
      key_valid_at_issuance: { status: 'asserted', source: 'verifier_derived' },
      snapshot_authentic: { status: 'asserted' },
      chain_linked: { status: 'asserted' },
    });

    const bodies = await h.call('GET', `/api/v1/trust/receipts/${receipt.id}/bodies`, {
      key: m.merchantKey,
    });
    expect(bodies.status).toBe(200);
    expect(await bodyHash(bodies.body.input)).toBe(receipt.inputHash);
    expect(bodies.body.output).toEqual(request.output);

    const again = await h.call('GET', `/api/v1/trust/receipts/${receipt.id}`, {
      key: m.merchantKey,
    });
    expect(again.body).toEqual(receipt);
  });

  it('answers with the signed members exactly as signed, then the envelope, on issue and on replay', async () => {
    // Integer-like member names are where a parsed and re-serialized object would differ:
    // JavaScript enumerates them first, RFC 8785 sorts them as strings.
    const m = await h.merchant();
    const assertions = [{ '10': 'a', '9': 'b', z: { '2': 1, '1': [2, '\u00e9'] } }];
    const request = issueBody({ trust_provider_assertions: assertions });
    const post = () =>
      h.app.request('/api/v1/trust/receipts', {
        method: 'POST',
        headers: { authorization: `Bearer ${m.merchantKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(request),
      });
    const issued = await post();
    expect(issued.status).toBe(201);
    expect(issued.headers.get('content-type')).toBe('application/json');
    const text = await issued.text();
    const receipt = JSON.parse(text);
    const { jws, legal_posture, timestamp, chain, ...signed } = receipt;
    const envelope = JSON.stringify({ jws, legal_posture, timestamp, chain });
    expect(text).toBe(`${canonicalJson(signed).slice(0, -1)},${envelope.slice(1)}`);
    expect(signed.trust_provider_assertions).toEqual(assertions);

    const jwks = await h.call('GET', '/.well-known/jwks.json');
    expect((await verifyReceipt(receipt, jwks.body)).claims.signature_valid.status).toBe(
      'asserted',
    );
    const replay = await post();
    expect(replay.status).toBe(200);
    expect(await replay.text()).toBe(text);
    const fetched = await h.call('GET', `/api/v1/trust/receipts/${receipt.id}`, {
      key: m.merchantKey,
    });
    expect(fetched.body).toEqual(receipt);
  });
});

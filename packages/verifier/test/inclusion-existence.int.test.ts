/**
 * SPEC §5 and §10: a checkpoint timestamped before a key's revocation that includes a receipt
 * proves the receipt existed before it, so a receipt signed before the revocation keeps
 * `key_valid_at_issuance` asserted. Real RFC 3161 tokens from the OpenSSL test TSA, real
 * Ed25519 keys, a real log tree; nothing mocked. (The TSA stamps the current time, so the
 * revocation here lies an hour ahead of it: the verifier compares times, it has no "now".)
 */
import {
  asciiBytes,
  type Checkpoint,
  inclusionProof,
  kidFor,
  merkleRoot,
  planCheckpointSignature,
  type Receipt,
  type ReceiptTimestamp,
  sha256Hex,
  toTimestampMs,
} from '@quittance/format';
import { LocalSigner, signPlan } from '@quittance/signer';
import {
  makeReceipt,
  makeRevocation,
  makeSnapshot,
  publisherJwks,
  startTsaServer,
  type TsaTestServer,
} from '@quittance/test-tooling';
import {
  createTimestampRequest,
  parsePemCertificates,
  requestTimestamp,
  verifyTimestampResponse,
} from '@quittance/tsp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KeyHistory, loadKeyHistory, parsePublisherKeys, verifyReceipt } from '../src';

const now = Date.now();
const at = toTimestampMs(now);
const REVOKED_AT = toTimestampMs(now + 3_600_000);
const revokedKey = LocalSigner.generate(kidFor('acme', new Date(now)));
const currentKey = LocalSigner.generate(kidFor('acme', new Date(now), 1));
const publisher = LocalSigner.generate('publisher-2026');

let tsa: TsaTestServer;
let anchors: Uint8Array[];
let history: KeyHistory;
const receipts: Receipt[] = [];

async function stamp(jws: string): Promise<ReceiptTimestamp> {
  const imprint = Buffer.from(
    await sha256Hex(asciiBytes(jws.slice(jws.lastIndexOf('.') + 1))),
    'hex',
  );
  const request = createTimestampRequest(imprint);
  const verified = await verifyTimestampResponse(await requestTimestamp(tsa.url, request), {
    imprint,
    nonce: request.nonce,
    trustAnchors: anchors,
  });
  return {
    token: Buffer.from(verified.token).toString('base64'),
    genTime: verified.genTime.toISOString(),
    tsa: verified.tsa,
    policy: verified.policy,
  };
}

/** A checkpoint of the three entries, signed by `signer`, timestamped when asked. */
async function checkpoint(signer: LocalSigner, timestamped: boolean): Promise<Checkpoint> {
  const entries = receipts.map((r) => r.chain.entryHash);
  const signed = {
    merchantId: 'acme',
    seq: 3,
    entryHash: entries[2] as string,
    rootHash: await merkleRoot(entries),
    createdAt: at,
    signingKeyKid: signer.kid,
  };
  const { jws } = await signPlan(planCheckpointSignature(signed), signer);
  return { ...signed, jws, timestamp: timestamped ? await stamp(jws) : null };
}

async function proofOf(cp: Checkpoint) {
  const entries = receipts.map((r) => r.chain.entryHash);
  return {
    receiptId: receipts[1]?.id,
    seq: 2,
    treeSize: 3,
    auditPath: await inclusionProof(entries, 2, 3),
    checkpoint: cp,
  };
}

beforeAll(async () => {
  tsa = await startTsaServer();
  anchors = parsePemCertificates(tsa.trustPem);
  const nbf = toTimestampMs(now - 30 * 86_400_000);
  const snapshot = await makeSnapshot({
    publisher,
    period: at.slice(0, 7),
    revocations: [
      await makeRevocation(publisher, {
        kid: revokedKey.kid,
        revokedAt: REVOKED_AT,
        reason: 'keyCompromise',
      }),
    ],
    keys: [
      {
        signer: revokedKey,
        merchantId: 'acme',
        nbf,
        exp: REVOKED_AT,
        status: 'revoked',
        revokedAt: REVOKED_AT,
        revocationReason: 'keyCompromise',
      },
      { signer: currentKey, merchantId: 'acme', nbf },
    ],
  });
  history = await loadKeyHistory(snapshot, {
    publisher: parsePublisherKeys(await publisherJwks(publisher)),
  });
  let prevHash: string | undefined;
  for (let seq = 1; seq <= 3; seq++) {
    const receipt = await makeReceipt({ signer: revokedKey, createdAt: at, seq, prevHash });
    receipts.push(receipt);
    prevHash = receipt.chain.entryHash;
  }
}, 60_000);

afterAll(async () => {
  await tsa?.close();
});

const statuses = async (options: Parameters<typeof verifyReceipt>[2]) => {
  const { claims } = await verifyReceipt(receipts[1], history, options);
  return {
    included: claims.included_in_log?.status,
    key: claims.key_valid_at_issuance.status,
    keyReason: claims.key_valid_at_issuance.reason,
  };
};

describe('a receipt of a key revoked after it was signed', () => {
  it('without a proof: key validity unknown (a stolen key can backdate createdAt)', async () => {
    expect(await statuses({ tsaTrustAnchors: anchors })).toMatchObject({
      included: 'unknown',
      key: 'unknown',
    });
  });

  it('included in a checkpoint timestamped before the revocation: asserted', async () => {
    for (const signer of [revokedKey, currentKey]) {
      const proof = await proofOf(await checkpoint(signer, true));
      const result = await statuses({ tsaTrustAnchors: anchors, proof });
      expect(result, signer.kid).toMatchObject({ included: 'asserted', key: 'asserted' });
      expect(result.keyReason).toContain('checkpoint 3, which includes it, timestamped at');
    }
  });

  it('the same checkpoint when its timestamp proves no time: unknown', async () => {
    const proof = await proofOf(await checkpoint(revokedKey, true));
    // No TSA roots: the checkpoint of the revoked key is itself only the stolen key's word.
    expect(await statuses({ proof })).toMatchObject({ included: 'unknown', key: 'unknown' });
    // TSA roots that came with the evidence vouch for nothing.
    expect(
      await statuses({ tsaTrustAnchors: anchors, timestampProvesExistence: false, proof }),
    ).toMatchObject({ included: 'unknown', key: 'unknown' });
  });

  it('an untimestamped checkpoint proves inclusion at most, never a time', async () => {
    const byRevoked = await proofOf(await checkpoint(revokedKey, false));
    expect(await statuses({ tsaTrustAnchors: anchors, proof: byRevoked })).toMatchObject({
      included: 'unknown',
      key: 'unknown',
    });
    const byCurrent = await proofOf(await checkpoint(currentKey, false));
    expect(await statuses({ tsaTrustAnchors: anchors, proof: byCurrent })).toMatchObject({
      included: 'asserted',
      key: 'unknown',
    });
  });

  it('a timestamped checkpoint whose path does not lead to this receipt proves nothing', async () => {
    const proof = await proofOf(await checkpoint(currentKey, true));
    proof.auditPath = proof.auditPath.toReversed();
    expect(await statuses({ tsaTrustAnchors: anchors, proof })).toMatchObject({
      included: 'refuted',
      key: 'unknown',
    });
  });
});

describe("a receipt's own timestamp proves existence by genTime plus its accuracy", () => {
  /** The key history with `revokedKey` revoked at `revokedAt`. */
  const historyRevokedAt = async (revokedAt: string) =>
    loadKeyHistory(
      await makeSnapshot({
        publisher,
        period: at.slice(0, 7),
        revocations: [
          await makeRevocation(publisher, {
            kid: revokedKey.kid,
            revokedAt,
            reason: 'keyCompromise',
          }),
        ],
        keys: [
          {
            signer: revokedKey,
            merchantId: 'acme',
            nbf: toTimestampMs(now - 30 * 86_400_000),
            exp: revokedAt,
            status: 'revoked',
            revokedAt,
            revocationReason: 'keyCompromise',
          },
        ],
      }),
      { publisher: parsePublisherKeys(await publisherJwks(publisher)) },
    );

  it('revoked within the accuracy after genTime: unknown; after it: asserted', async () => {
    // The test TSA says accuracy 1 s (as OpenSSL's ts does with accuracy = secs:1): the token
    // proves the receipt existed by genTime + 1 s, not by genTime. ±1 s once asserted a
    // receipt whose key was revoked 29 ms after genTime.
    const receipt = receipts[0] as Receipt;
    const stamped = {
      ...receipt,
      legal_posture: 'ades_candidate_timestamped' as const,
      timestamp: await stamp(receipt.jws),
    };
    const genTime = Date.parse(stamped.timestamp.genTime);
    const keyClaim = async (revokedAfterMs: number) =>
      (
        await verifyReceipt(
          stamped,
          await historyRevokedAt(toTimestampMs(genTime + revokedAfterMs)),
          {
            tsaTrustAnchors: anchors,
          },
        )
      ).claims.key_valid_at_issuance;
    // Within the accuracy, and after createdAt (a revocation before it refutes): genTime may
    // have whole seconds, so it can be up to 999 ms before createdAt.
    const createdAt = Date.parse(receipt.createdAt);
    const within = Math.floor((Math.max(genTime, createdAt) + genTime + 1_000) / 2) - genTime;
    expect(within).toBeGreaterThan(0);
    expect((await keyClaim(within)).status).toBe('unknown');
    const after = await keyClaim(1_500);
    expect(after.status).toBe('asserted');
    expect(after.reason).toContain('± 1000 ms');
  });
});

/**
 * A small, valid export bundle made by the real writer with real signers, without the API:
 * five receipts of one merchant (bodies disclosed for three, two issued with hashes only),
 * two checkpoints, one key snapshot signed by a publisher key.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bodyHash,
  type Checkpoint,
  GENESIS_HASH,
  JWS_TYPES,
  merkleRoot,
  planCheckpointSignature,
  type Receipt,
  receiptHash,
} from '@quittance/format';
import { LocalSigner, signDigest, signPlan } from '@quittance/signer';
import { makeReceipt, makeSnapshot, publisherJwks } from '@quittance/test-tooling';
import { type PublisherKeys, parsePublisherKeys } from '@quittance/verifier';
import { type BundleSource, type ChainEntry, toReceiptLine, writeBundle } from '../src/index';

export interface Fixture {
  dir: string;
  /** The valid bundle. */
  path: string;
  publisher: PublisherKeys;
  /** The publisher JWKS as a file, for the command line. */
  publisherJwks: unknown;
  receipts: Receipt[];
}

const MERCHANT = 'acme';

export async function makeFixture(
  options: { receipts?: number; withBodies?: (i: number) => boolean } = {},
): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'quittance-bundle-'));
  const publisherSigner = LocalSigner.generate('quittance-publisher-1');
  const merchant = LocalSigner.generate(`${MERCHANT}-2026Q4`);
  const snapshot = await makeSnapshot({
    publisher: publisherSigner,
    keys: [{ signer: merchant, merchantId: MERCHANT, nbf: '2026-10-01T00:00:00.000Z' }],
    period: '2026-11',
  });
  const n = options.receipts ?? 5;
  const withBodies = options.withBodies ?? ((i: number) => i % 2 === 0 || i === 1);
  const receipts: Receipt[] = [];
  const chain: ChainEntry[] = [];
  const bodies: { receiptId: string; bodies: { input: unknown; output: unknown } | null }[] = [];
  let prevHash = GENESIS_HASH;
  for (let i = 0; i < n; i++) {
    const input = { query: `item ${i}`, page: i, filters: ['a', 'b'] };
    const output = { items: [{ sku: `sku-${i}`, price: 1999 + i }], next: null };
    const createdAt = new Date(Date.parse('2026-11-20T10:15:30.123Z') + i * 1000).toISOString();
    const receipt = await makeReceipt({
      signer: merchant,
      merchantId: MERCHANT,
      createdAt,
      seq: i + 1,
      prevHash,
      callId: `call-${i}`,
      orderId: `order-${Math.floor(i / 2)}`,
      extra: { inputHash: await bodyHash(input), outputHash: await bodyHash(output) },
    });
    receipts.push(receipt);
    chain.push({
      seq: i + 1,
      prevHash,
      receiptId: receipt.id,
      receiptHash: await receiptHash(receipt),
      entryHash: receipt.chain.entryHash,
    });
    bodies.push({ receiptId: receipt.id, bodies: withBodies(i) ? { input, output } : null });
    prevHash = receipt.chain.entryHash;
  }
  const checkpoints: Checkpoint[] = [];
  for (const seq of [Math.min(3, n), n]) {
    const entry = chain[seq - 1] as ChainEntry;
    const signed = {
      merchantId: MERCHANT,
      seq,
      entryHash: entry.entryHash,
      rootHash: await merkleRoot(chain.slice(0, seq).map((e) => e.entryHash)),
      createdAt: new Date(Date.parse('2026-11-20T10:20:00.000Z') + seq).toISOString(),
      signingKeyKid: merchant.kid,
    };
    const { jws } = await signPlan(planCheckpointSignature(signed), merchant);
    checkpoints.push({ ...signed, jws, timestamp: null });
  }
  const source: BundleSource = {
    async *chainEntries() {
      yield* chain;
    },
    async *receipts() {
      for (const receipt of receipts) yield toReceiptLine(receipt);
    },
    async *checkpoints() {
      yield* checkpoints;
    },
    async snapshots(periods) {
      return periods.map((period) => ({ period, document: JSON.stringify(snapshot) }));
    },
    async *bodies() {
      yield* bodies;
    },
  };
  const path = join(dir, 'good.zip');
  await writeBundle(
    createWriteStream(path),
    {
      bundleId: 'exp_fixture',
      merchantId: MERCHANT,
      jurisdiction: 'EU',
      range: {
        from: '2020-11-20T00:00:00.000Z',
        to: '2026-11-21T00:00:00.000Z',
        orderId: null,
        firstSeq: 1,
        lastSeq: n,
      },
      createdAt: '2026-11-21T00:00:00.000Z',
      includeBodies: true,
    },
    source,
    async (manifest) => (await signDigest(manifest, JWS_TYPES.manifest, merchant)).jws,
  );
  const jwks = await publisherJwks(publisherSigner);
  return { dir, path, publisher: parsePublisherKeys(jwks), publisherJwks: jwks, receipts };
}

/**
 * A small, valid export bundle made by the real writer with real signers, without the API:
 * five receipts of one merchant (bodies disclosed for three, two issued with hashes only),
 * two checkpoints, one key snapshot signed by a publisher key. The same data writes other
 * bundles: exports of a later range or with one part altered, and order evidence bundles.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bodyHash,
  type Checkpoint,
  GENESIS_HASH,
  inclusionProof,
  JWS_TYPES,
  merkleFrontier,
  merkleRoot,
  planCheckpointSignature,
  type Receipt,
  receiptHash,
} from '@quittance/format';
import { LocalSigner, signDigest, signPlan } from '@quittance/signer';
import { makeReceipt, makeSnapshot, publisherJwks } from '@quittance/test-tooling';
import { type PublisherKeys, parsePublisherKeys } from '@quittance/verifier';
import {
  type BundleSource,
  type ChainEntry,
  type EvidenceContent,
  type EvidenceProof,
  type LogFrontier,
  type SourceBodies,
  toReceiptLine,
  writeBundle,
  writeEvidenceBundle,
} from '../src/index';

/** What an export made from the fixture's data holds, each part replaceable. */
export interface ExportParts {
  /** First seq of the range (default 1): chain.jsonl then starts at the entry before it. */
  firstSeq?: number;
  log?: (log: LogFrontier) => LogFrontier;
  checkpoints?: (checkpoints: Checkpoint[]) => Checkpoint[] | Promise<Checkpoint[]>;
}

export interface EvidenceParts {
  orderId?: string;
  /** seq of the checkpoint the proofs are against (default: the last). */
  checkpointSeq?: number;
  includeBodies?: boolean;
  /** Replaces what the writer is given (after the proofs are made). */
  content?: (content: EvidenceContent) => EvidenceContent | Promise<EvidenceContent>;
}

export interface Fixture {
  dir: string;
  /** The valid bundle. */
  path: string;
  publisher: PublisherKeys;
  /** The publisher JWKS as a file, for the command line. */
  publisherJwks: unknown;
  receipts: Receipt[];
  chain: ChainEntry[];
  checkpoints: Checkpoint[];
  /** The merchant's signer: what re-signs a checkpoint or a manifest in a test. */
  merchant: LocalSigner;
  merchantId: string;
  /** A checkpoint signed by the merchant's key over these members. */
  signCheckpoint(signed: Omit<Checkpoint, 'jws' | 'timestamp'>): Promise<Checkpoint>;
  /** Another export of the same data, written to `name` in `dir`; returns its path. */
  writeExport(name: string, parts?: ExportParts): Promise<string>;
  /** An order evidence bundle of the same data (default order-1), written to `name`. */
  writeEvidence(name: string, parts?: EvidenceParts): Promise<string>;
}

const MERCHANT = 'acme';

export async function makeFixture(
  options: {
    receipts?: number;
    withBodies?: (i: number) => boolean;
    /** seqs of the checkpoints (default: min(3, n) and n). */
    checkpointSeqs?: number[];
  } = {},
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
  const bodies: SourceBodies[] = [];
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
  const signCheckpoint = async (signed: Omit<Checkpoint, 'jws' | 'timestamp'>) => {
    const { jws } = await signPlan(planCheckpointSignature(signed), merchant);
    return { ...signed, jws, timestamp: null };
  };
  const entryHashes = chain.map((e) => e.entryHash);
  const checkpoints: Checkpoint[] = [];
  for (const seq of options.checkpointSeqs ?? [Math.min(3, n), n]) {
    const entry = chain[seq - 1] as ChainEntry;
    checkpoints.push(
      await signCheckpoint({
        merchantId: MERCHANT,
        seq,
        entryHash: entry.entryHash,
        rootHash: await merkleRoot(entryHashes.slice(0, seq)),
        createdAt: new Date(Date.parse('2026-11-20T10:20:00.000Z') + seq).toISOString(),
        signingKeyKid: merchant.kid,
      }),
    );
  }
  const signManifest = async (manifest: object) =>
    (await signDigest(manifest, JWS_TYPES.manifest, merchant)).jws;

  async function writeExport(name: string, parts: ExportParts = {}): Promise<string> {
    const firstSeq = parts.firstSeq ?? 1;
    const log = {
      size: firstSeq - 1,
      frontier: await merkleFrontier(entryHashes.slice(0, firstSeq - 1)),
    };
    const inRange = (seq: number) => seq >= firstSeq;
    const exportedCheckpoints = await (parts.checkpoints ?? ((c: Checkpoint[]) => c))(
      checkpoints.filter((c) => inRange(c.seq)),
    );
    const source: BundleSource = {
      async *chainEntries() {
        yield* chain.filter((e) => e.seq >= firstSeq - 1);
      },
      async *receipts() {
        for (const receipt of receipts)
          if (inRange(receipt.chain.seq)) yield toReceiptLine(receipt);
      },
      async *checkpoints() {
        yield* exportedCheckpoints;
      },
      async snapshots(periods) {
        return periods.map((period) => ({ period, document: JSON.stringify(snapshot) }));
      },
      async *bodies() {
        yield* bodies.filter((_, i) => inRange(i + 1));
      },
      async log() {
        return parts.log ? parts.log(log) : log;
      },
    };
    const path = join(dir, name);
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
          firstSeq,
          lastSeq: n,
        },
        createdAt: '2026-11-21T00:00:00.000Z',
        includeBodies: true,
      },
      source,
      signManifest,
    );
    return path;
  }

  async function writeEvidence(name: string, parts: EvidenceParts = {}): Promise<string> {
    const orderId = parts.orderId ?? 'order-1';
    const checkpoint = checkpoints.find((c) => c.seq === (parts.checkpointSeq ?? n)) as Checkpoint;
    const ofOrder = receipts.filter((r) => r.orderId === orderId);
    const proofs: EvidenceProof[] = [];
    for (const receipt of ofOrder)
      proofs.push({
        receiptId: receipt.id,
        seq: receipt.chain.seq,
        treeSize: checkpoint.seq,
        auditPath: await inclusionProof(entryHashes, receipt.chain.seq, checkpoint.seq),
      });
    let content: EvidenceContent = {
      receipts: ofOrder.map(toReceiptLine),
      proofs,
      checkpoint,
      snapshots: [{ period: '2026-11', document: JSON.stringify(snapshot) }],
      bodies: bodies.filter((b) => ofOrder.some((r) => r.id === b.receiptId)),
    };
    if (parts.content) content = await parts.content(content);
    const path = join(dir, name);
    await writeEvidenceBundle(
      createWriteStream(path),
      {
        bundleId: 'evd_fixture',
        merchantId: MERCHANT,
        jurisdiction: 'EU',
        orderId,
        createdAt: '2026-11-21T00:00:00.000Z',
        includeBodies: parts.includeBodies ?? true,
      },
      content,
      signManifest,
    );
    return path;
  }

  const path = await writeExport('good.zip');
  const jwks = await publisherJwks(publisherSigner);
  return {
    dir,
    path,
    publisher: parsePublisherKeys(jwks),
    publisherJwks: jwks,
    receipts,
    chain,
    checkpoints,
    merchant,
    merchantId: MERCHANT,
    signCheckpoint,
    writeExport,
    writeEvidence,
  };
}

/**
 * Small bundles for the unit tests of each verification step, built here with fflate from
 * real signed receipts, checkpoints and snapshots (no writer, no database): every file of an
 * export (SPEC §9) or an order evidence bundle (§9.1) as text, to edit, then sealed with a
 * manifest signed by the merchant's key and zipped.
 */
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
  sha256Hex,
  utf8,
} from '@quittance/format';
import { LocalSigner, signDigest, signPlan } from '@quittance/signer';
import { makeReceipt, makeSnapshot, publisherJwks } from '@quittance/test-tooling';
import { zipSync } from 'fflate';
import { BundleContents } from '../../src/bundle/contents';
import type { ChainEntry } from '../../src/bundle/layout';
import { DEFAULT_LIMITS } from '../../src/bundle/limits';
import { type PublisherKeys, parsePublisherKeys } from '../../src/key-history';
import { PortableZipReader } from '../../src/zip/portable-zip';

export const MERCHANT = 'acme';
export const PERIOD = '2026-11';

/** A bundle's files by name: text, or bytes for what is not text. */
export type Files = Record<string, string | Uint8Array>;

export interface BundleData {
  publisher: PublisherKeys;
  /** The publisher's JWKS document, as `publisher` was parsed from. */
  publisherJwks: unknown;
  merchant: LocalSigner;
  /** A key of the merchant that is not in any snapshot. */
  stranger: LocalSigner;
  snapshot: string;
  receipts: Receipt[];
  bodies: { input: unknown; output: unknown }[];
  chain: ChainEntry[];
  checkpoints: Checkpoint[];
  signCheckpoint(seq: number, changes?: Partial<Checkpoint>): Promise<Checkpoint>;
}

const lines = (values: unknown[]) => values.map((v) => `${JSON.stringify(v)}\n`).join('');

/** `n` receipts of one merchant, two per order, with checkpoints at 2 and n. */
export async function makeData(n = 4): Promise<BundleData> {
  const publisherSigner = LocalSigner.generate('quittance-publisher-1');
  const merchant = LocalSigner.generate(`${MERCHANT}-2026Q4`);
  const snapshot = JSON.stringify(
    await makeSnapshot({
      publisher: publisherSigner,
      keys: [{ signer: merchant, merchantId: MERCHANT, nbf: '2026-10-01T00:00:00.000Z' }],
      period: PERIOD,
    }),
  );
  const receipts: Receipt[] = [];
  const bodies: { input: unknown; output: unknown }[] = [];
  const chain: ChainEntry[] = [];
  let prevHash = GENESIS_HASH;
  for (let i = 0; i < n; i++) {
    const body = { input: { query: `item ${i}` }, output: { sku: `sku-${i}` } };
    const receipt = await makeReceipt({
      signer: merchant,
      merchantId: MERCHANT,
      createdAt: new Date(Date.parse('2026-11-20T10:15:30.123Z') + i * 1000).toISOString(),
      seq: i + 1,
      prevHash,
      callId: `call-${i}`,
      orderId: `order-${Math.floor(i / 2)}`,
      extra: { inputHash: await bodyHash(body.input), outputHash: await bodyHash(body.output) },
    });
    receipts.push(receipt);
    bodies.push(body);
    chain.push({
      seq: i + 1,
      prevHash,
      receiptId: receipt.id,
      receiptHash: await receiptHash(receipt),
      entryHash: receipt.chain.entryHash,
    });
    prevHash = receipt.chain.entryHash;
  }
  const signCheckpoint = async (seq: number, changes: Partial<Checkpoint> = {}) => {
    const signed = {
      merchantId: MERCHANT,
      seq,
      entryHash: (chain[seq - 1] as ChainEntry).entryHash,
      rootHash: await merkleRoot(chain.slice(0, seq).map((e) => e.entryHash)),
      createdAt: new Date(Date.parse('2026-11-20T10:20:00.000Z') + seq).toISOString(),
      signingKeyKid: merchant.kid,
      ...changes,
    };
    const { jws } = await signPlan(planCheckpointSignature(signed), merchant);
    return { ...signed, jws, timestamp: null } as Checkpoint;
  };
  const jwks = await publisherJwks(publisherSigner);
  return {
    publisher: parsePublisherKeys(jwks),
    publisherJwks: jwks,
    merchant,
    stranger: LocalSigner.generate(`${MERCHANT}-2026Q3`),
    snapshot,
    receipts,
    bodies,
    chain,
    checkpoints: [await signCheckpoint(2), await signCheckpoint(n)],
    signCheckpoint,
  };
}

/** The files of an export of receipts firstSeq..n (SPEC §9), manifest not included. */
export async function exportFiles(data: BundleData, firstSeq = 1): Promise<Files> {
  const inRange = <T>(items: T[]) => items.slice(firstSeq - 1);
  return {
    'receipts.jsonl': lines(inRange(data.receipts)),
    'chain.jsonl': lines(data.chain.slice(Math.max(0, firstSeq - 2))),
    'checkpoints.jsonl': lines(data.checkpoints.filter((c) => c.seq >= firstSeq)),
    'log.json': JSON.stringify({
      size: firstSeq - 1,
      frontier: await merkleFrontier(data.chain.slice(0, firstSeq - 1).map((e) => e.entryHash)),
    }),
    [`jwks/${PERIOD}.json`]: data.snapshot,
    'bodies.jsonl': lines(
      inRange(data.receipts).map((r, i) => ({ id: r.id, ...data.bodies[i + firstSeq - 1] })),
    ),
  };
}

/** The files of the evidence bundle of `orderId` (SPEC §9.1), against the checkpoint at `seq`. */
export async function evidenceFiles(
  data: BundleData,
  orderId = 'order-1',
  seq = data.chain.length,
): Promise<Files> {
  const checkpoint = data.checkpoints.find((c) => c.seq === seq) as Checkpoint;
  const hashes = data.chain.map((e) => e.entryHash);
  const ofOrder = data.receipts.filter((r) => r.orderId === orderId);
  const proofs = [];
  for (const receipt of ofOrder)
    proofs.push({
      receiptId: receipt.id,
      seq: receipt.chain.seq,
      treeSize: seq,
      auditPath: await inclusionProof(hashes, receipt.chain.seq, seq),
      checkpoint,
    });
  return {
    'receipts.jsonl': lines(ofOrder),
    'proofs.jsonl': lines(proofs),
    'checkpoints.jsonl': lines([checkpoint]),
    [`jwks/${PERIOD}.json`]: data.snapshot,
  };
}

const bytesOf = (content: string | Uint8Array) =>
  typeof content === 'string' ? utf8(content) : content;

/** The manifest's `files`: every file's path, size and SHA-256, sorted by path. */
export async function listFiles(files: Files) {
  const listed = [];
  for (const path of Object.keys(files).sort()) {
    const bytes = bytesOf(files[path] as string | Uint8Array);
    listed.push({ path, bytes: bytes.length, sha256: await sha256Hex(bytes) });
  }
  return listed;
}

/**
 * `files` with manifest.json and manifest.jws for them, signed by `signer` (default: the
 * merchant). `manifest` changes the manifest before it is signed.
 */
export async function seal(
  data: BundleData,
  files: Files,
  kind: 'export' | 'order-evidence',
  options: { manifest?: (m: Record<string, unknown>) => unknown; signer?: LocalSigner } = {},
): Promise<Files> {
  const count = (name: string) =>
    typeof files[name] === 'string'
      ? (files[name] as string).split('\n').filter(Boolean).length
      : 0;
  const base =
    kind === 'export'
      ? {
          bundleId: 'exp_test',
          merchantId: MERCHANT,
          jurisdiction: 'EU',
          retention: { years: 6, legalBasis: 'test' },
          range: {
            from: '2026-11-01T00:00:00.000Z',
            to: '2026-12-01T00:00:00.000Z',
            orderId: null,
            firstSeq: (JSON.parse(files['log.json'] as string).size as number) + 1,
            lastSeq: data.chain.length,
          },
          createdAt: '2026-11-21T00:00:00.000Z',
          includeBodies: 'bodies.jsonl' in files,
          counts: {
            receipts: count('receipts.jsonl'),
            chainEntries: count('chain.jsonl'),
            checkpoints: count('checkpoints.jsonl'),
            snapshots: 1,
            tsaCertificates: 0,
            bodies: count('bodies.jsonl'),
            bodiesUnavailable: 0,
          },
        }
      : {
          kind: 'order-evidence',
          bundleId: 'evd_test',
          merchantId: MERCHANT,
          orderId: 'order-1',
          createdAt: '2026-11-21T00:00:00.000Z',
          includeBodies: 'bodies.jsonl' in files,
          checkpoint: (() => {
            const c = JSON.parse((files['checkpoints.jsonl'] as string).split('\n')[0] as string);
            return { seq: c.seq, rootHash: c.rootHash };
          })(),
          counts: {
            receipts: count('receipts.jsonl'),
            proofs: count('proofs.jsonl'),
            checkpoints: count('checkpoints.jsonl'),
            snapshots: 1,
            tsaCertificates: 0,
            bodies: count('bodies.jsonl'),
            bodiesUnavailable: 0,
          },
        };
  const manifest = { ...base, files: await listFiles(files) };
  const final = options.manifest ? options.manifest(manifest) : manifest;
  const { jws } = await signDigest(final, JWS_TYPES.manifest, options.signer ?? data.merchant);
  return { ...files, 'manifest.json': JSON.stringify(final), 'manifest.jws': jws };
}

/** The files as a zip (deflate), in the order given. */
export function zip(files: Files): Uint8Array<ArrayBuffer> {
  return zipSync(
    Object.fromEntries(Object.entries(files).map(([name, content]) => [name, bytesOf(content)])),
    { level: 1 },
  );
}

/** A bundle's entries as the steps read them (the portable zip reader, default caps). */
export async function contentsOf(files: Files): Promise<BundleContents> {
  return new BundleContents(await PortableZipReader.open(zip(files), 'test.zip', DEFAULT_LIMITS));
}

/** A receipt's line with one member changed (re-serialized, signature untouched). */
export function editLine(
  text: string,
  index: number,
  edit: (value: Record<string, unknown>) => unknown,
) {
  const all = text.split('\n').filter(Boolean);
  all[index] = JSON.stringify(edit(JSON.parse(all[index] as string)));
  return `${all.join('\n')}\n`;
}

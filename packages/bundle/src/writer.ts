import { createHash } from 'node:crypto';
import { PassThrough, Readable, type Writable } from 'node:stream';
import {
  type Checkpoint,
  canonicalJson,
  checkpointSignedPart,
  isHash,
  type JsonValue,
  periodOfSnapshotUrl,
  popcount,
  type Receipt,
} from '@quittance/format';
import type { ZipArchive } from 'archiver';
import {
  type BodyLine,
  type ChainEntry,
  EVIDENCE_KIND,
  type EvidenceManifest,
  FILES,
  type Jurisdiction,
  type LogFrontier,
  type Manifest,
  type ManifestFile,
  type ProofLine,
  RETENTION,
  snapshotPath,
  tsaPath,
} from './layout';
import { TsaCertificates } from './tsa-certificates';
import { evidenceMarkdown, verifyMarkdown } from './verify-md';

/** A receipt ready for receipts.jsonl: its JSON text, and what the writer needs of it. */
export interface ReceiptLine {
  json: string;
  jwksSnapshotUrl: string;
  timestampToken: string | null;
}

/** The line of a receipt object (sources that hold objects rather than stored text). */
export function toReceiptLine(receipt: Receipt): ReceiptLine {
  return {
    json: JSON.stringify(receipt),
    jwksSnapshotUrl: receipt.jwksSnapshotUrl,
    timestampToken: receipt.timestamp?.token ?? null,
  };
}

/** Where the bundle's content comes from: streams in chain order, so memory stays flat. */
export interface BundleSource {
  /** The entries of the range, preceded by the entry just before it (when there is one). */
  chainEntries(): AsyncIterable<ChainEntry>;
  receipts(): AsyncIterable<ReceiptLine>;
  checkpoints(): AsyncIterable<Checkpoint>;
  /** The latest version of each period's snapshot, as the exact published text. */
  snapshots(periods: string[]): Promise<{ period: string; document: string }[]>;
  /** Disclosed bodies in chain order (read only when the export includes bodies). */
  bodies?(): AsyncIterable<SourceBodies>;
  /** log.json: the frontier of the log tree before the range's first entry (SPEC §9). */
  log(): Promise<LogFrontier>;
  /** DER certificates for tsa/ besides those the tokens embed (the TSA's trust anchors). */
  tsaCertificates?: Uint8Array[];
}

/** A receipt's bodies; `null` when unavailable (issued with hashes only, or destroyed). */
export interface SourceBodies {
  receiptId: string;
  bodies: { input: unknown; output: unknown } | null;
}

export interface BundleHeader {
  bundleId: string;
  merchantId: string;
  jurisdiction: Jurisdiction;
  range: Manifest['range'];
  createdAt: string;
  includeBodies: boolean;
}

export interface WriteResult {
  manifest: Manifest;
  /** Size of the zip. */
  bytes: number;
  /** SHA-256 hex of the zip, computed as it was written. */
  sha256: string;
}

/** A zip being written: `add` streams one file into it, hashed on the way. */
interface ZipWriter {
  add(
    name: string,
    chunks: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
  ): Promise<ManifestFile>;
  /** The files added so far, sorted by path (what the manifest lists). */
  files(): ManifestFile[];
  finish(): Promise<{ bytes: number; sha256: string }>;
}

/**
 * The zip rules every bundle shares: streamed entries with back-pressure, deflate level 1.
 * archiver loads with the first bundle, not with the service (some 13 MB resident).
 */
async function openZip(out: Writable, createdAt: string): Promise<ZipWriter> {
  // The output is watched before anything is awaited: an error it emits while archiver
  // loads would otherwise go unseen and the bundle would wait forever.
  const outFailed = new Promise<never>((_, reject) => out.on('error', reject));
  outFailed.catch(() => {});
  const closed = new Promise<void>((resolve) => out.on('close', resolve));
  const { ZipArchive: Archive } = await import('archiver');
  const zip: ZipArchive = new Archive({ zlib: { level: 1 } });
  const written = new Map<string, () => void>();
  zip.on('entry', (entry) => written.get(entry.name)?.());
  const failed = Promise.race([
    outFailed,
    new Promise<never>((_, reject) => zip.on('error', reject)),
  ]);
  failed.catch(() => {});
  const zipHash = createHash('sha256');
  const hashing = new PassThrough();
  hashing.on('data', (chunk: Buffer) => zipHash.update(chunk));
  zip.pipe(hashing).pipe(out);
  const files: ManifestFile[] = [];
  return {
    async add(name, chunks) {
      const hash = createHash('sha256');
      let bytes = 0;
      async function* hashed() {
        for await (const chunk of chunks) {
          const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
          hash.update(buffer);
          bytes += buffer.length;
          yield buffer;
        }
      }
      const done = new Promise<void>((resolve) => written.set(name, resolve));
      // A source that throws midway (its database closed by a shutdown) fails the bundle;
      // archiver does not listen for the file stream's errors, which would crash the process.
      const file = Readable.from(hashed());
      const fileFailed = new Promise<never>((_, reject) => file.once('error', reject));
      fileFailed.catch(() => {});
      zip.append(file, { name, date: new Date(createdAt) });
      await Promise.race([done, failed, fileFailed]);
      written.delete(name);
      const listed = { path: name, bytes, sha256: hash.digest('hex') };
      files.push(listed);
      return listed;
    },
    files: () => [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    async finish() {
      await Promise.race([zip.finalize(), failed]);
      await Promise.race([closed, failed]);
      return { bytes: zip.pointer(), sha256: zipHash.digest('hex') };
    },
  };
}

/** log.json's text, after checking the source handed a frontier that fits its size. */
function logJson(log: LogFrontier): string {
  if (!Number.isSafeInteger(log.size) || log.size < 0)
    throw new RangeError(`log.json: size ${log.size} is not a non-negative integer`);
  if (log.frontier.length !== popcount(log.size) || !log.frontier.every((h) => isHash(h)))
    throw new RangeError(
      `log.json: a tree of ${log.size} entries has ${popcount(log.size)} frontier hashes, not ${log.frontier.length} (or one is not 64 lowercase hex)`,
    );
  return `${JSON.stringify({ size: log.size, frontier: log.frontier })}\n`;
}

/**
 * Writes the zip of SPEC §9 to `out`, streaming each file from `source` with back-pressure
 * and hashing it on the way, then VERIFY.md, manifest.json and manifest.jws (`sign` returns
 * the detached JWS over the manifest). JSON Lines keep the entry count small.
 */
export async function writeBundle(
  out: Writable,
  header: BundleHeader,
  source: BundleSource,
  sign: (manifest: Manifest) => Promise<string>,
  onProgress?: (receipts: number) => void,
): Promise<WriteResult> {
  const zip = await openZip(out, header.createdAt);
  const add = zip.add;

  const counts: Manifest['counts'] = {
    receipts: 0,
    chainEntries: 0,
    checkpoints: 0,
    snapshots: 0,
    tsaCertificates: 0,
    bodies: 0,
    bodiesUnavailable: 0,
  };
  await add(
    FILES.chain,
    lines(source.chainEntries(), () => counts.chainEntries++),
  );
  await add(FILES.log, [logJson(await source.log())]);

  const periods = new Set<string>();
  const tsaCertificates = await TsaCertificates.open(source.tsaCertificates);
  await add(
    FILES.receipts,
    textLines(source.receipts(), (receipt) => {
      counts.receipts++;
      const period = periodOfSnapshotUrl(receipt.jwksSnapshotUrl);
      if (period) periods.add(period);
      if (receipt.timestampToken) tsaCertificates.collect(receipt.timestampToken);
      if (counts.receipts % 1000 === 0) onProgress?.(counts.receipts);
    }),
  );
  onProgress?.(counts.receipts);
  await add(
    FILES.checkpoints,
    lines(source.checkpoints(), (checkpoint) => {
      counts.checkpoints++;
      if (checkpoint.timestamp) tsaCertificates.collect(checkpoint.timestamp.token);
    }),
  );
  for (const { period, document } of await source.snapshots([...periods].sort())) {
    await add(snapshotPath(period), [document]);
    counts.snapshots++;
  }
  counts.tsaCertificates = await addCertificates(add, tsaCertificates);
  if (header.includeBodies) {
    // One line per receipt with bodies, in chain order; none for bodies that are not there.
    await add(
      FILES.bodies,
      lines(disclosedBodies(source.bodies?.(), counts), () => counts.bodies++),
    );
  }

  const retention = RETENTION[header.jurisdiction];
  const described = {
    ...header,
    retention: { years: retention.years, legalBasis: retention.legalBasis },
    counts,
  };
  await add(FILES.verify, [verifyMarkdown(described)]);
  const manifest: Manifest = {
    bundleId: header.bundleId,
    merchantId: header.merchantId,
    jurisdiction: header.jurisdiction,
    retention: described.retention,
    range: header.range,
    createdAt: header.createdAt,
    includeBodies: header.includeBodies,
    counts,
    files: zip.files(),
  };
  const jws = await sign(manifest);
  await add(FILES.manifest, [`${JSON.stringify(manifest, null, 2)}\n`]);
  await add(FILES.manifestJws, [jws]);
  return { manifest, ...(await zip.finish()) };
}

/** tsa/: one PEM file per certificate, in the order of their hashes; returns how many. */
async function addCertificates(
  add: ZipWriter['add'],
  certificates: TsaCertificates,
): Promise<number> {
  let count = 0;
  for (const [sha256, pem] of certificates.pems()) {
    await add(tsaPath(sha256), [pem]);
    count++;
  }
  return count;
}

// ---- order evidence bundles (SPEC §9.1) ---------------------------------------------------

/** Who an evidence bundle is for: the order, and whether bodies are disclosed. */
export interface EvidenceHeader {
  bundleId: string;
  merchantId: string;
  /** The merchant's: the manifest states it and its retention as an export's does (SPEC §9.1). */
  jurisdiction: Jurisdiction;
  orderId: string;
  /** RFC 3339 UTC with milliseconds. */
  createdAt: string;
  includeBodies: boolean;
}

/**
 * A receipt's inclusion proof (SPEC §6.1) as the API makes it. `checkpoint` may be left out:
 * every proof is against {@link EvidenceContent.checkpoint}, which the writer puts in each
 * line (a checkpoint given here must be that one: same signed members and jws).
 */
export type EvidenceProof = Omit<ProofLine, 'checkpoint'> & { checkpoint?: Checkpoint };

/**
 * Everything an order evidence bundle holds, as plain data (an order is a handful of
 * receipts): the writer checks it fits together and throws on input no caller should pass.
 */
export interface EvidenceContent {
  /** The order's receipts the requesting key may see, in chain order (at least one). */
  receipts: ReceiptLine[];
  /** One per receipt, in the same order, each with treeSize = checkpoint.seq. */
  proofs: EvidenceProof[];
  /** The one checkpoint all proofs are against (with its timestamp when it has one). */
  checkpoint: Checkpoint;
  /**
   * The latest version of each period's snapshot, as the exact published text: at least the
   * periods the receipts name ({@link snapshotPeriods}); the newest one too, for revocations.
   */
  snapshots: { period: string; document: string }[];
  /**
   * DER certificates to add to tsa/ besides those embedded in the receipts' and the
   * checkpoint's tokens (collected as in writeBundle).
   */
  tsaCertificates?: Uint8Array[];
  /** The receipts' bodies in chain order; read only when the header includes bodies. */
  bodies?: SourceBodies[];
}

export interface EvidenceWriteResult {
  manifest: EvidenceManifest;
  bytes: number;
  sha256: string;
}

/** The snapshot periods (`YYYY-MM`) receipts name in their jwksSnapshotUrl, sorted. */
export function snapshotPeriods(receipts: readonly ReceiptLine[]): string[] {
  const periods = new Set<string>();
  for (const receipt of receipts) {
    const period = periodOfSnapshotUrl(receipt.jwksSnapshotUrl);
    if (period) periods.add(period);
  }
  return [...periods].sort();
}

/** The members of a receipt line the writer checks the content against. */
function receiptFacts(line: ReceiptLine, i: number) {
  let value: unknown;
  try {
    value = JSON.parse(line.json);
  } catch {
    throw new TypeError(`evidence: receipts[${i}] is not JSON`);
  }
  const receipt = value as Partial<Receipt> | null;
  const seq = receipt?.chain?.seq;
  if (typeof receipt?.id !== 'string' || !Number.isSafeInteger(seq))
    throw new TypeError(`evidence: receipts[${i}] has no id or chain.seq`);
  return {
    id: receipt.id,
    seq: seq as number,
    merchantId: receipt.merchantId,
    orderId: receipt.orderId,
  };
}

const sameCheckpoint = (a: Checkpoint, b: Checkpoint) =>
  a.jws === b.jws &&
  canonicalJson(checkpointSignedPart(a) as JsonValue) ===
    canonicalJson(checkpointSignedPart(b) as JsonValue);

/** Throws when the evidence content does not fit together (an API bug, never user input). */
function checkEvidence(header: EvidenceHeader, content: EvidenceContent): ProofLine[] {
  const { receipts, proofs, checkpoint } = content;
  if (receipts.length === 0)
    throw new RangeError('evidence: an order evidence bundle needs a receipt');
  if (proofs.length !== receipts.length)
    throw new RangeError(
      `evidence: ${receipts.length} receipts but ${proofs.length} proofs (one per receipt)`,
    );
  if (checkpoint.merchantId !== header.merchantId)
    throw new RangeError(`evidence: the checkpoint is of merchant ${checkpoint.merchantId}`);
  let lastSeq = 0;
  return receipts.map((line, i) => {
    const receipt = receiptFacts(line, i);
    const proof = proofs[i] as EvidenceProof;
    if (receipt.merchantId !== header.merchantId || receipt.orderId !== header.orderId)
      throw new RangeError(
        `evidence: receipt ${receipt.id} is not of merchant ${header.merchantId}, order ${header.orderId}`,
      );
    if (receipt.seq <= lastSeq)
      throw new RangeError(`evidence: receipts are not in chain order at ${receipt.id}`);
    lastSeq = receipt.seq;
    if (proof.receiptId !== receipt.id || proof.seq !== receipt.seq)
      throw new RangeError(
        `evidence: proofs[${i}] is not receipt ${receipt.id}'s (seq ${receipt.seq})`,
      );
    if (proof.treeSize !== checkpoint.seq || receipt.seq > checkpoint.seq)
      throw new RangeError(
        `evidence: proofs[${i}] is not against the checkpoint at seq ${checkpoint.seq}`,
      );
    if (proof.checkpoint && !sameCheckpoint(proof.checkpoint, checkpoint))
      throw new RangeError(`evidence: proofs[${i}] names another checkpoint`);
    return {
      receiptId: proof.receiptId,
      seq: proof.seq,
      treeSize: proof.treeSize,
      auditPath: proof.auditPath,
      checkpoint,
    };
  });
}

/**
 * Writes the order evidence bundle of SPEC §9.1 to `out`: the same zip rules, manifest (with
 * `kind: "order-evidence"`), manifest.jws (`sign`, as for writeBundle: a digest statement by
 * the merchant's current key) and VERIFY.md as an export, with receipts.jsonl, proofs.jsonl
 * (every proof against one checkpoint), checkpoints.jsonl (that checkpoint), jwks/, tsa/ and,
 * when the header asks, bodies.jsonl.
 */
export async function writeEvidenceBundle(
  out: Writable,
  header: EvidenceHeader,
  content: EvidenceContent,
  sign: (manifest: EvidenceManifest) => Promise<string>,
): Promise<EvidenceWriteResult> {
  const proofLines = checkEvidence(header, content);
  const zip = await openZip(out, header.createdAt);
  const counts: EvidenceManifest['counts'] = {
    receipts: 0,
    proofs: 0,
    checkpoints: 0,
    snapshots: 0,
    tsaCertificates: 0,
    bodies: 0,
    bodiesUnavailable: 0,
  };
  const tsaCertificates = await TsaCertificates.open(content.tsaCertificates);
  const each = async function* <T>(items: readonly T[]) {
    yield* items;
  };
  await zip.add(
    FILES.receipts,
    textLines(each(content.receipts), (receipt) => {
      counts.receipts++;
      if (receipt.timestampToken) tsaCertificates.collect(receipt.timestampToken);
    }),
  );
  await zip.add(
    FILES.proofs,
    lines(each(proofLines), () => counts.proofs++),
  );
  const { checkpoint } = content;
  await zip.add(
    FILES.checkpoints,
    lines(each([checkpoint]), () => counts.checkpoints++),
  );
  if (checkpoint.timestamp) tsaCertificates.collect(checkpoint.timestamp.token);
  const periods = snapshotPeriods(content.receipts);
  const snapshots = new Map(content.snapshots.map((s) => [s.period, s.document]));
  const missing = periods.filter((p) => !snapshots.has(p));
  if (missing.length)
    throw new RangeError(`evidence: no snapshot for ${missing.join(', ')}, which receipts name`);
  for (const [period, document] of [...snapshots].sort(([a], [b]) => (a < b ? -1 : 1))) {
    await zip.add(snapshotPath(period), [document]);
    counts.snapshots++;
  }
  counts.tsaCertificates = await addCertificates(zip.add, tsaCertificates);
  if (header.includeBodies) {
    await zip.add(
      FILES.bodies,
      lines(disclosedBodies(each(content.bodies ?? []), counts), () => counts.bodies++),
    );
  }
  const retention = RETENTION[header.jurisdiction];
  const described: Omit<EvidenceManifest, 'files'> = {
    kind: EVIDENCE_KIND,
    bundleId: header.bundleId,
    merchantId: header.merchantId,
    jurisdiction: header.jurisdiction,
    retention: { years: retention.years, legalBasis: retention.legalBasis },
    range: evidenceRange(header.orderId, content.receipts, proofLines),
    orderId: header.orderId,
    createdAt: header.createdAt,
    includeBodies: header.includeBodies,
    checkpoint: { seq: checkpoint.seq, rootHash: checkpoint.rootHash },
    counts,
  };
  await zip.add(FILES.verify, [evidenceMarkdown(described)]);
  const manifest: EvidenceManifest = { ...described, files: zip.files() };
  const jws = await sign(manifest);
  await zip.add(FILES.manifest, [`${JSON.stringify(manifest, null, 2)}\n`]);
  await zip.add(FILES.manifestJws, [jws]);
  return { manifest, ...(await zip.finish()) };
}

/** The lines of bodies.jsonl; receipts whose bodies are unavailable are only counted. */
async function* disclosedBodies(
  items: AsyncIterable<SourceBodies> | undefined,
  counts: { bodiesUnavailable: number },
): AsyncIterable<BodyLine> {
  if (!items) return;
  for await (const { receiptId, bodies } of items) {
    if (!bodies) counts.bodiesUnavailable++;
    else yield { id: receiptId, input: bodies.input, output: bodies.output };
  }
}

/** JSON Lines of stored text: no parse and re-serialize per line. */
function textLines(
  items: AsyncIterable<ReceiptLine>,
  each: (item: ReceiptLine) => void,
): AsyncIterable<string> {
  return batched(items, (item) => {
    each(item);
    return item.json;
  });
}

function lines<T>(items: AsyncIterable<T>, each: (item: T) => void): AsyncIterable<string> {
  return batched(items, (item) => {
    each(item);
    return JSON.stringify(item);
  });
}

async function* batched<T>(
  items: AsyncIterable<T>,
  toLine: (item: T) => string,
): AsyncIterable<string> {
  let batch = '';
  for await (const item of items) {
    batch += `${toLine(item)}\n`;
    // Fewer, larger chunks: one per ~64 KiB instead of one per line.
    if (batch.length > 65_536) {
      yield batch;
      batch = '';
    }
  }
  if (batch) yield batch;
}

/**
 * An evidence bundle's range, as an export's (SPEC §9.1 "same manifest as §9"): from the
 * earliest receipt's createdAt to just after the latest's (`to` is exclusive; createdAt is
 * not monotonic in chain order), and the first and last seqs.
 */
function evidenceRange(
  orderId: string,
  receipts: readonly ReceiptLine[],
  proofs: readonly ProofLine[],
): EvidenceManifest['range'] {
  const times = receipts.map((line) =>
    Date.parse((JSON.parse(line.json) as { createdAt: string }).createdAt),
  );
  return {
    from: new Date(Math.min(...times)).toISOString(),
    to: new Date(Math.max(...times) + 1).toISOString(),
    orderId,
    firstSeq: (proofs[0] as ProofLine).seq,
    lastSeq: (proofs.at(-1) as ProofLine).seq,
  };
}

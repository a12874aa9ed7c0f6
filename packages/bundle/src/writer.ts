import { createHash } from 'node:crypto';
import { PassThrough, Readable, type Writable } from 'node:stream';
import type { Checkpoint, Receipt } from '@quittance/format';
import { tokenCertificates, toPem } from '@quittance/tsp';
import { ZipArchive } from 'archiver';
import {
  type BodyLine,
  type ChainEntry,
  FILES,
  type Jurisdiction,
  type Manifest,
  type ManifestFile,
  RETENTION,
  snapshotPath,
  tsaPath,
} from './layout';
import { verifyMarkdown } from './verify-md';

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

/** The period a receipt names in its jwksSnapshotUrl (`…/YYYY-MM.json`). */
function namedPeriod(url: string): string | undefined {
  return /(\d{4}-\d{2})\.json$/.exec(url)?.[1];
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
  const zip = new ZipArchive({ zlib: { level: 1 } });
  const written = new Map<string, () => void>();
  zip.on('entry', (entry) => written.get(entry.name)?.());
  const failed = new Promise<never>((_, reject) => {
    zip.on('error', reject);
    out.on('error', reject);
  });
  failed.catch(() => {});
  const closed = new Promise<void>((resolve) => out.on('close', resolve));
  const zipHash = createHash('sha256');
  const hashing = new PassThrough();
  hashing.on('data', (chunk: Buffer) => zipHash.update(chunk));
  zip.pipe(hashing).pipe(out);

  const files: ManifestFile[] = [];
  const add = async (
    name: string,
    chunks: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
  ) => {
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
    zip.append(Readable.from(hashed()), { name, date: new Date(header.createdAt) });
    await Promise.race([done, failed]);
    written.delete(name);
    const file = { path: name, bytes, sha256: hash.digest('hex') };
    files.push(file);
    return file;
  };

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

  const periods = new Set<string>();
  const tsaCertificates = new Map<string, Uint8Array>();
  const seenCertificates = new Set<Uint8Array>();
  await add(
    FILES.receipts,
    textLines(source.receipts(), (receipt) => {
      counts.receipts++;
      const period = namedPeriod(receipt.jwksSnapshotUrl);
      if (period) periods.add(period);
      if (receipt.timestampToken)
        collectCertificates(receipt.timestampToken, tsaCertificates, seenCertificates);
      if (counts.receipts % 1000 === 0) onProgress?.(counts.receipts);
    }),
  );
  onProgress?.(counts.receipts);
  await add(
    FILES.checkpoints,
    lines(source.checkpoints(), (checkpoint) => {
      counts.checkpoints++;
      if (checkpoint.timestamp)
        collectCertificates(checkpoint.timestamp.token, tsaCertificates, seenCertificates);
    }),
  );
  for (const { period, document } of await source.snapshots([...periods].sort())) {
    await add(snapshotPath(period), [document]);
    counts.snapshots++;
  }
  for (const [sha256, der] of [...tsaCertificates].sort(([a], [b]) => (a < b ? -1 : 1))) {
    await add(tsaPath(sha256), [toPem(der, 'CERTIFICATE')]);
    counts.tsaCertificates++;
  }
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
    files: [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
  };
  const jws = await sign(manifest);
  await add(FILES.manifest, [`${JSON.stringify(manifest, null, 2)}\n`]);
  await add(FILES.manifestJws, [`${jws}\n`]);
  await Promise.race([zip.finalize(), failed]);
  await Promise.race([closed, failed]);
  return { manifest, bytes: zip.pointer(), sha256: zipHash.digest('hex') };
}

/** The lines of bodies.jsonl; receipts whose bodies are unavailable are only counted. */
async function* disclosedBodies(
  items: AsyncIterable<SourceBodies> | undefined,
  counts: Manifest['counts'],
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

/** Adds the certificates a token embeds; tsp hands back the same bytes for a certificate it has seen. */
function collectCertificates(
  tokenBase64: string,
  into: Map<string, Uint8Array>,
  seen: Set<Uint8Array>,
) {
  let certificates: Uint8Array[];
  try {
    certificates = tokenCertificates(Buffer.from(tokenBase64, 'base64'));
  } catch {
    return; // an unreadable token is the verifier's finding, not the exporter's
  }
  for (const der of certificates) {
    if (seen.has(der)) continue;
    seen.add(der);
    into.set(createHash('sha256').update(der).digest('hex'), der);
  }
}

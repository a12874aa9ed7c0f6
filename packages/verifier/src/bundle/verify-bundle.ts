import { platform } from '#platform';
import type { Claim, ClaimStatus, ReceiptReport } from '../claims';
import type { PublisherKeys } from '../key-history';
import { PortableZipReader } from '../zip/portable-zip';
import type { ZipReader } from '../zip/zip-reader';
import { checkChain } from './chain';
import { checkCheckpoints } from './checkpoints';
import { BundleContents } from './contents';
import { checkEvidenceReceipts } from './evidence';
import { checkFiles } from './files';
import { EVIDENCE_KIND, FILES } from './layout';
import { type BundleLimits, DEFAULT_LIMITS } from './limits';
import { readLog } from './log';
import { type BundleKind, checkManifest, readManifest, signedManifest } from './manifest';
import { type BundleFacts, checkExportReceipts } from './receipts';
import { receiptRunner } from './runner';
import { readSnapshots } from './snapshots';
import { ReceiptTally } from './tally';
import { readTsaAnchors } from './tsa';

/**
 * A bundle to verify: a path (Node only), a Blob or File (a browser), the zip's bytes, or a
 * zip already opened.
 */
export type BundleInput = string | Blob | Uint8Array | ZipReader;

export interface BundleVerificationOptions {
  /** The pinned publisher keys: the root of trust. */
  publisher: PublisherKeys;
  /** TSA roots obtained independently; without them the certificates in `tsa/` are used. */
  tsaTrustAnchors?: Uint8Array[] | undefined;
  /**
   * Called with each receipt of receipts.jsonl as it is read, before it is verified, and the
   * bundle's kind: for what a caller shows beside the verdicts (the page's timeline of an
   * order's evidence), which come from the reports.
   */
  onReceiptRead?: ((receipt: Record<string, unknown>, kind: BundleKind) => void) | undefined;
  /** Called for each receipt as it is verified (the report is not kept unless `keepReceipts`). */
  onReceipt?: ((report: ReceiptReport) => void) | undefined;
  keepReceipts?: boolean | undefined;
  /**
   * Worker threads for receipts, the main thread verifying too when it would otherwise wait;
   * by default one per core but one under Node for bundles of 2,000 receipts or more, none
   * elsewhere (a page runs the whole verification in a Web Worker).
   */
  workers?: number | undefined;
  /** Caps on what the zip may declare and inflate; see {@link DEFAULT_LIMITS}. */
  limits?: Partial<BundleLimits> | undefined;
  /** Cancels the verification, which then rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Names a bundle that is not a path in messages (default: a File's name, or "the bundle"). */
  label?: string | undefined;
}

/** The steps of a bundle's verification, in the order they run. */
export type BundleStep = 'manifest' | 'snapshots' | 'checkpoints' | 'chain' | 'receipts' | 'files';

export interface BundleProgress {
  step: BundleStep;
  /** Receipts verified so far. */
  receipts: number;
  /** Receipts the manifest counts (0 when it cannot say). */
  totalReceipts: number;
}

export interface BundleVerification {
  ok: boolean;
  /**
   * An export (SPEC §9) or an order evidence bundle (§9.1), as its manifest says (when the
   * manifest is unusable: evidence when the zip has proofs.jsonl and no chain.jsonl).
   */
  kind: BundleKind;
  /**
   * The order an evidence bundle is for: its manifest's, else its first receipt's (null for
   * exports, and without a usable manifest).
   */
  orderId: string | null;
  claims: Record<string, Claim>;
  /** Every receipt's report, with `keepReceipts`. */
  receipts: ReceiptReport[];
  /** Per receipt claim: how many were asserted, refuted, unknown. */
  counts: Record<string, Record<ClaimStatus, number>>;
  firstFailures: { id: string; claim: string; reason: string }[];
  receiptCount: number;
}

/**
 * Verifies an export bundle (SPEC §9) or an order evidence bundle (§9.1) offline, as §10 says:
 * file hashes, manifest signature, snapshots, checkpoints, the chain and log.json, every receipt
 * with its key, timestamp, chain link or inclusion proof, and disclosed bodies. Streams the zip:
 * memory grows with the number of receipt ids, not their content.
 *
 * Content that cannot be parsed (a line that is not JSON, a missing member, a file over its
 * cap) refutes the claim it is evidence for. Rejects with {@link BundleError} only when the
 * zip itself cannot be read or passes the caps of {@link BundleLimits}, and with the signal's
 * reason when cancelled.
 */
export async function verifyBundle(
  source: BundleInput,
  options: BundleVerificationOptions,
  onProgress?: (progress: BundleProgress) => void,
): Promise<BundleVerification> {
  options.signal?.throwIfAborted();
  const opened = !isZipReader(source);
  const zip = isZipReader(source) ? source : await openZip(source, options);
  try {
    return await verifyOpened(zip, options, onProgress);
  } finally {
    if (opened) zip.close();
  }
}

async function verifyOpened(
  zip: ZipReader,
  options: BundleVerificationOptions,
  onProgress: ((progress: BundleProgress) => void) | undefined,
): Promise<BundleVerification> {
  const contents = new BundleContents(zip, options.signal);
  let totalReceipts = 0;
  const tally = new ReceiptTally({
    keepReceipts: options.keepReceipts,
    onReceipt: options.onReceipt,
    onProgress: (receipts) => onProgress?.({ step: 'receipts', receipts, totalReceipts }),
  });
  const step = (name: BundleStep) =>
    onProgress?.({ step: name, receipts: tally.receiptCount, totalReceipts });

  step('manifest');
  const manifest = await readManifest(contents);
  totalReceipts = signedManifest(manifest)?.counts.receipts ?? 0;
  step('snapshots');
  const snapshots = await readSnapshots(contents, options.publisher);
  const anchors = await readTsaAnchors(contents, options.tsaTrustAnchors);
  const claims: Record<string, Claim> = { snapshot_authentic: snapshots.claim };
  claims.manifest_valid = await checkManifest(contents, manifest, snapshots.history);

  const facts: BundleFacts = {
    chainProblems: [],
    // A manifest that does not say whether bodies were asked for: they were if they are here.
    includeBodies: signedManifest(manifest)?.includeBodies ?? contents.has(FILES.bodies),
    anchorsFromBundle: anchors.fromBundle,
    contents,
  };
  // Worker threads start now, while the main thread reads the checkpoints and the chain.
  const runner = receiptRunner({
    total: totalReceipts,
    workers: options.workers,
    history: snapshots.history,
    snapshot: snapshots.newest,
    publisher: { keys: [...options.publisher.values()] },
    anchors,
    reportsKept: Boolean(options.keepReceipts || options.onReceipt),
  });
  const receipts = {
    contents,
    tally,
    facts,
    runner,
    snapshotAuthentic: snapshots.history.authentic,
    onReceiptRead:
      options.onReceiptRead &&
      ((receipt: Record<string, unknown>) => options.onReceiptRead?.(receipt, manifest.kind)),
  };
  let orderId: string | null = null;
  try {
    if (manifest.kind === EVIDENCE_KIND) {
      // SPEC §9.1: no chain, so no chain_complete and no log_consistent (not applicable: omitted).
      step('checkpoints');
      const checkpoints = await checkCheckpoints(contents, snapshots.history, anchors, {
        manifest: manifest.evidence,
      });
      claims.checkpoints_valid = checkpoints.claim;
      step('receipts');
      const read = await checkEvidenceReceipts({
        ...receipts,
        manifest: manifest.evidence,
        checkpoint: checkpoints.evidenceCheckpoint,
      });
      claims.included_in_log = read.includedInLog;
      orderId = read.orderId ?? null;
      if (read.bodyMatches) claims.body_matches = read.bodyMatches;
    } else {
      const log = await readLog(contents);
      step('checkpoints');
      const checkpoints = await checkCheckpoints(
        contents,
        snapshots.history,
        anchors,
        undefined,
        manifest.manifest?.merchantId,
      );
      claims.checkpoints_valid = checkpoints.claim;
      step('chain');
      // The range's first seq as the manifest states it, else as log.json implies it (SPEC §9:
      // its size is that of the log before the range's first entry).
      const stated = manifest.manifest?.range.firstSeq;
      const firstSeq = stated !== undefined ? stated : log.ok ? log.size + 1 : undefined;
      const chain = checkChain(contents, checkpoints, log, stated);
      // The receipts need the chain's proven checkpoint times, when there are any; otherwise
      // they are verified while the main thread reads the chain (see checkExportReceipts).
      if (checkpoints.proofs.length) await chain;
      step('receipts');
      const read = await checkExportReceipts({
        ...receipts,
        manifest: manifest.manifest,
        chain,
        firstSeq,
      });
      claims.log_consistent = (await chain).logConsistent;
      claims.chain_complete = read.chainComplete;
      if (read.bodyMatches) claims.body_matches = read.bodyMatches;
    }
  } catch (error) {
    await runner.abort(); // the zip became unreadable, or the caller cancelled
    throw error;
  }

  step('files');
  const unlisted = [FILES.manifest, FILES.manifestJws];
  await contents.readTheRest(unlisted);
  const signed = signedManifest(manifest);
  claims.files_intact = checkFiles({
    read: contents.read,
    names: contents.names(),
    unlisted,
    manifest: signed ? { files: signed.files } : { problem: manifest.problem },
    duplicates: zip.duplicates,
    disagreements: zip.disagreements,
  });
  return {
    ok:
      Object.values(claims).every((c) => c.status !== 'refuted') &&
      tally.firstFailures.length === 0,
    kind: manifest.kind,
    orderId,
    claims,
    receipts: tally.receipts,
    counts: tally.counts,
    firstFailures: tally.firstFailures,
    receiptCount: tally.receiptCount,
  };
}

/**
 * Opens a zip for reading under the caps: by path with Node's reader, from a Blob or bytes
 * with the portable one. Throws {@link BundleError} when it cannot be read or declares too much.
 */
export function openZip(
  source: string | Blob | Uint8Array,
  options: { limits?: Partial<BundleLimits> | undefined; label?: string | undefined } = {},
): Promise<ZipReader> {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  return typeof source === 'string'
    ? platform.openZipFile(source, limits)
    : PortableZipReader.open(source, options.label ?? labelOf(source), limits);
}

function isZipReader(source: BundleInput): source is ZipReader {
  return typeof source === 'object' && 'chunks' in source && 'entries' in source;
}

function labelOf(source: Blob | Uint8Array): string {
  const name = (source as { name?: unknown }).name;
  return typeof name === 'string' && name !== '' ? name : 'the bundle';
}

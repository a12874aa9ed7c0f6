import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import {
  appendToFrontier,
  base64url,
  canonicalJson,
  entryHash as computeEntryHash,
  digestPayloadB64,
  fromBase64url,
  HASH_PATTERN,
  headerProblem,
  isTimestampMs,
  type JsonValue,
  JWS_TYPES,
  type JwksSnapshot,
  merkleLeafHash,
  parseDetachedJws,
  rootFromFrontier,
  summarize,
  validateCheckpoint,
} from '@quittance/format';
import { parsePemCertificates } from '@quittance/tsp';
import {
  asserted,
  type Claim,
  isEd25519Jwk,
  KeyCache,
  type KeyHistory,
  loadKeyHistory,
  type PublisherKeys,
  type ReceiptReport,
  refuted,
  unknown,
  verifyCheckpoint,
  verifyJwsSignature,
  verifyReceipt,
} from '@quittance/verifier';
import { BundleError } from './errors';
import {
  type ChainEntry,
  EVIDENCE_KIND,
  type EvidenceManifest,
  FILES,
  JURISDICTIONS,
  type LogFrontier,
  type Manifest,
} from './layout';
import {
  type BundleLimits,
  duplicateMember,
  formatBytes,
  isJsonObject,
  LINE_BYTES,
  parseJson,
  showValue,
  TSA_LIMITS,
  WHOLE_FILE_BYTES,
} from './limits';
import { ReceiptPool, uncheckable, type WorkItem } from './parallel';
import { BundleReader } from './reader';

export interface BundleVerificationOptions {
  /** The pinned publisher keys: the root of trust. */
  publisher: PublisherKeys;
  /** TSA roots obtained independently; without them the certificates in `tsa/` are used. */
  tsaTrustAnchors?: Uint8Array[];
  /** Called for each receipt as it is verified (the report is not kept unless `keepReceipts`). */
  onReceipt?: (report: ReceiptReport) => void;
  onProgress?: (done: number, total: number) => void;
  keepReceipts?: boolean;
  /** Worker threads for receipts; default one per core for bundles of 2,000 receipts or more. */
  workers?: number;
  /** Caps on what the zip may declare and inflate; see {@link DEFAULT_LIMITS}. */
  limits?: Partial<BundleLimits>;
}

export interface BundleVerification {
  ok: boolean;
  /**
   * An export (SPEC §9) or an order evidence bundle (§9.1), as its manifest says (when the
   * manifest is unusable: evidence when the zip has proofs.jsonl and no chain.jsonl).
   */
  kind: 'export' | 'order-evidence';
  /** The order an evidence bundle is for, as its manifest says (null for exports). */
  orderId: string | null;
  claims: Record<string, Claim>;
  receipts: ReceiptReport[];
  /** Per receipt claim: how many were asserted, refuted, unknown. */
  counts: Record<string, Record<Claim['status'], number>>;
  firstFailures: { id: string; claim: string; reason: string }[];
  receiptCount: number;
}

const MAX_FAILURES = 20;
const PARALLEL_FROM = 2_000;

/** One line of a JSON Lines file: its text, or why it cannot be read (too long, not UTF-8). */
type Line = { n: number; text: string; problem?: undefined } | { n: number; problem: string };

/** A line of a JSON Lines file that runs alongside receipts.jsonl, naming a receipt. */
interface CursorItem {
  n: number;
  id?: string;
  /** Why the line is not usable evidence (applies to the receipt `id`, or to the bundle). */
  problem?: string;
}

/** A bodies.jsonl line, with the receipt it names when it names one. */
interface BodyItem extends CursorItem {
  bodies?: { input?: unknown; output?: unknown };
}

/** A proofs.jsonl line (order evidence): the proof as parsed, and its checkpoint's JCS. */
interface ProofItem extends CursorItem {
  proof?: unknown;
  /** JCS of the proof's checkpoint, to compare with the one of checkpoints.jsonl. */
  checkpoint?: string;
}

/** A line's JSON value, or why it has none. */
const parseLine = (line: Line): ReturnType<typeof parseJson> =>
  line.problem === undefined ? parseJson(line.text) : { ok: false, problem: line.problem };
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
const isCount = (value: unknown) => Number.isSafeInteger(value) && (value as number) >= 0;
const isSeq = (value: unknown) => Number.isSafeInteger(value) && (value as number) >= 1;
/** JCS of a JSON value, or undefined when it has none (not I-JSON). */
const canonicalOf = (value: unknown) => {
  try {
    return canonicalJson(value as JsonValue);
  } catch {
    return undefined;
  }
};
/** Number of set bits: a tree of `size` entries has one frontier hash per set bit. */
function popcount(size: number): number {
  let count = 0;
  for (let n = size; n > 0; n = Math.floor(n / 2)) count += n % 2;
  return count;
}
const listed = (problems: string[], max: number) =>
  problems.slice(0, max).join('; ') +
  (problems.length > max ? ` (+${problems.length - max} more)` : '');

/**
 * Verifies an export bundle offline (SPEC §9, §10): file hashes, manifest signature,
 * snapshots, every receipt with its key, timestamp and chain link, checkpoints, disclosed
 * bodies. Streams the zip: memory grows with the number of receipt ids, not their content.
 *
 * Content that cannot be parsed (a line that is not JSON, a missing member, a file over its
 * cap) refutes the claim it is evidence for. Throws {@link BundleError} only when the zip
 * itself cannot be read or passes the caps of {@link BundleLimits}.
 */
export async function verifyBundle(
  path: string,
  options: BundleVerificationOptions,
): Promise<BundleVerification> {
  const reader = await BundleReader.open(path, options.limits);
  try {
    return await new Verification(reader, options).run();
  } finally {
    reader.close();
  }
}

class Verification {
  readonly claims: Record<string, Claim> = {};
  readonly actual = new Map<string, { bytes: number; sha256: string }>();
  readonly result: BundleVerification = {
    ok: true,
    kind: 'export',
    orderId: null,
    claims: this.claims,
    receipts: [],
    counts: {},
    firstFailures: [],
    receiptCount: 0,
  };
  /** manifest.json of an export, when usable. */
  manifest: Manifest | undefined;
  /** manifest.json of an order evidence bundle, when usable. */
  evidence: EvidenceManifest | undefined;
  /** Why manifest.json cannot be used, when it cannot. */
  manifestProblem = 'manifest.json is missing';
  history!: KeyHistory;
  /** The newest snapshot, handed to worker threads. */
  newestSnapshot: string | undefined;
  anchors: { certs: Uint8Array[]; fromBundle: boolean } = { certs: [], fromBundle: true };
  /** seq → earliest proven time from a verified, timestamped checkpoint at that seq. */
  checkpointProofs: { seq: number; time: string }[] = [];
  checkpointEntries = new Map<number, string>();
  chainProblems: string[] = [];
  chainCount = 0;
  missing: number[] = [];
  /** log.json, or why it cannot be used. */
  log: ({ ok: true } & LogFrontier) | { ok: false; problem: string } = {
    ok: false,
    problem: 'log.json is missing',
  };
  /** seq and rootHash of every well-formed checkpoint, to recompute from log.json and the chain. */
  checkpointRoots: { seq: number; rootHash: string }[] = [];
  /** JCS of an evidence bundle's checkpoint, when it is well-formed. */
  evidenceCheckpoint: string | undefined;

  constructor(
    readonly reader: BundleReader,
    readonly options: BundleVerificationOptions,
  ) {}

  /** The signed manifest, of whichever kind. */
  get signedManifest(): Manifest | EvidenceManifest | undefined {
    return this.manifest ?? this.evidence;
  }

  async run(): Promise<BundleVerification> {
    await this.readManifest();
    await this.readSnapshots();
    await this.readTsaCertificates();
    await this.checkManifestSignature();
    if (this.result.kind === EVIDENCE_KIND) {
      // SPEC §9.1: no chain, so no chain_complete and no log_consistent (not applicable: omitted).
      await this.checkCheckpoints();
      await this.checkEvidenceReceipts();
    } else {
      await this.readLog();
      await this.checkCheckpoints();
      await this.checkChain();
      await this.checkReceipts();
    }
    await this.checkFiles();
    this.result.ok =
      Object.values(this.claims).every((c) => c.status !== 'refuted') &&
      this.result.firstFailures.length === 0;
    return this.result;
  }

  // ---- files -------------------------------------------------------------------------

  /**
   * A whole file, hashed as it streams; `undefined` when it is larger than `max` (then it is
   * still hashed to the end, for files_intact, but not kept).
   */
  async readWhole(name: string, max: number): Promise<Buffer | undefined> {
    const hash = createHash('sha256');
    const parts: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of this.reader.chunks(name)) {
      hash.update(chunk);
      bytes += chunk.length;
      if (bytes <= max) parts.push(chunk);
    }
    this.actual.set(name, { bytes, sha256: hash.digest('hex') });
    return bytes <= max ? Buffer.concat(parts) : undefined;
  }

  /**
   * Lines of a JSON Lines file, hashing the raw bytes as they stream by. A line longer than
   * `maxLine` is reported (and skipped), never buffered; blank lines are skipped.
   */
  async *lines(name: string, maxLine: number): AsyncGenerator<Line> {
    if (!this.reader.has(name)) return;
    const hash = createHash('sha256');
    const decoder = new TextDecoder('utf-8', { fatal: true });
    let bytes = 0;
    let n = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let overLong = false;
    const tooLong = (): Line => ({ n, problem: `is longer than ${formatBytes(maxLine)}` });
    const decode = (buffer: Buffer): Line | undefined => {
      if (buffer.length === 0 || (buffer.length === 1 && buffer[0] === 0x0d)) return undefined;
      try {
        return { n, text: decoder.decode(buffer) };
      } catch {
        return { n, problem: 'is not UTF-8' };
      }
    };
    for await (const chunk of this.reader.chunks(name)) {
      hash.update(chunk);
      bytes += chunk.length;
      let start = 0;
      for (let end = chunk.indexOf(0x0a); end !== -1; end = chunk.indexOf(0x0a, start)) {
        const piece = chunk.subarray(start, end);
        start = end + 1;
        n++;
        if (overLong) {
          overLong = false; // the end of a line already reported
          continue;
        }
        if (pendingBytes + piece.length > maxLine) {
          pending = [];
          pendingBytes = 0;
          yield tooLong();
          continue;
        }
        const line = decode(pendingBytes ? Buffer.concat([...pending, piece]) : piece);
        pending = [];
        pendingBytes = 0;
        if (line) yield line;
      }
      if (start < chunk.length && !overLong) {
        const rest = chunk.subarray(start);
        if (pendingBytes + rest.length > maxLine) {
          pending = [];
          pendingBytes = 0;
          overLong = true;
          yield { n: n + 1, problem: `is longer than ${formatBytes(maxLine)}` };
        } else {
          pending.push(rest);
          pendingBytes += rest.length;
        }
      }
    }
    if (pendingBytes && !overLong) {
      n++;
      const line = decode(Buffer.concat(pending));
      if (line) yield line;
    }
    this.actual.set(name, { bytes, sha256: hash.digest('hex') });
  }

  /** Hashes an entry nobody read yet, streaming. */
  async hashEntry(name: string) {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of this.reader.chunks(name)) {
      hash.update(chunk);
      bytes += chunk.length;
    }
    this.actual.set(name, { bytes, sha256: hash.digest('hex') });
  }

  async checkFiles() {
    const problems: string[] = [];
    for (const name of this.reader.entries.keys()) {
      if (!this.actual.has(name) && name !== FILES.manifest && name !== FILES.manifestJws)
        await this.hashEntry(name);
    }
    const files = this.signedManifest?.files ?? [];
    const listedFiles = new Map(files.map((f) => [f.path, f]));
    if (listedFiles.size !== files.length) problems.push('the manifest lists a file twice');
    for (const [path, expected] of listedFiles) {
      const got = this.actual.get(path);
      if (!got) problems.push(`${path} is listed but missing`);
      else if (got.bytes !== expected.bytes || got.sha256 !== expected.sha256)
        problems.push(`${path} does not match its SHA-256`);
    }
    for (const name of this.reader.entries.keys()) {
      if (name !== FILES.manifest && name !== FILES.manifestJws && !listedFiles.has(name))
        problems.push(`${name} is not in the manifest`);
    }
    if (!this.signedManifest) problems.unshift(`no usable manifest: ${this.manifestProblem}`);
    for (const name of new Set(this.reader.duplicates))
      problems.unshift(`${name} occurs more than once in the zip`);
    for (const disagreement of this.reader.disagreements)
      problems.unshift(`${disagreement} (zip tools would disagree on what the bundle holds)`);
    this.claims.files_intact = problems.length
      ? refuted(listed(problems, 10))
      : asserted(
          `all ${listedFiles.size} files match their size and SHA-256 in the manifest; none added`,
        );
  }

  // ---- manifest, snapshots, TSA --------------------------------------------------------

  async readManifest() {
    if (!this.reader.has(FILES.chain) && this.reader.has(FILES.proofs))
      this.result.kind = EVIDENCE_KIND;
    if (!this.reader.has(FILES.manifest)) return;
    const data = await this.readWhole(FILES.manifest, WHOLE_FILE_BYTES.manifest);
    if (!data) {
      this.manifestProblem = `manifest.json is larger than ${formatBytes(WHOLE_FILE_BYTES.manifest)}`;
      return;
    }
    const parsed = parseJson(data.toString('utf8'));
    if (!parsed.ok) {
      this.manifestProblem = `manifest.json ${parsed.problem}`;
      return;
    }
    // Its bytes are not hashed anywhere: only the parsed object is signed (JCS), so the
    // object must be the same for every parser.
    const duplicate = duplicateMember(data.toString('utf8'));
    if (duplicate !== undefined) {
      this.manifestProblem = `manifest.json is not I-JSON: member ${showValue(duplicate)} occurs twice in one object`;
      return;
    }
    const kind = isJsonObject(parsed.value) ? parsed.value.kind : undefined;
    if (kind === EVIDENCE_KIND) {
      this.result.kind = EVIDENCE_KIND;
      const problems = evidenceManifestProblems(parsed.value);
      if (problems.length) {
        this.manifestProblem = `manifest.json is not an order evidence manifest: ${listed(problems, 5)}`;
        return;
      }
      this.evidence = parsed.value as unknown as EvidenceManifest;
      this.result.orderId = this.evidence.orderId;
      return;
    }
    if (kind !== undefined) {
      this.manifestProblem = `manifest.json has kind ${showValue(kind)}: neither an export (no kind) nor "${EVIDENCE_KIND}"`;
      return;
    }
    this.result.kind = 'export';
    const problems = manifestProblems(parsed.value);
    if (problems.length) {
      this.manifestProblem = `manifest.json is not a bundle manifest: ${listed(problems, 5)}`;
      return;
    }
    this.manifest = parsed.value as unknown as Manifest;
  }

  async readSnapshots() {
    const names = [...this.reader.entries.keys()]
      .filter((n) => /^jwks\/\d{4}-\d{2}\.json$/.test(n))
      .sort();
    const cache = new KeyCache();
    const problems: string[] = [];
    let newest: { doc: JwksSnapshot; history: KeyHistory } | undefined;
    for (const name of names) {
      const data = await this.readWhole(name, WHOLE_FILE_BYTES.snapshot);
      if (!data) {
        problems.push(`${name} is larger than ${formatBytes(WHOLE_FILE_BYTES.snapshot)}`);
        continue;
      }
      const parsed = parseJson(data.toString('utf8'));
      if (!parsed.ok) {
        problems.push(`${name} ${parsed.problem}`);
        continue;
      }
      const doc = parsed.value;
      if (!isJsonObject(doc) || typeof doc.period !== 'string' || !isCount(doc.version)) {
        problems.push(`${name} is not a key snapshot (no string period or integer version)`);
        continue;
      }
      let history: KeyHistory;
      try {
        history = await loadKeyHistory(doc, { publisher: this.options.publisher, cache });
      } catch (error) {
        problems.push(`${name}: ${messageOf(error)}`);
        continue;
      }
      const snapshot = doc as unknown as JwksSnapshot;
      if (history.authentic.status !== 'asserted')
        problems.push(`${name}: ${history.authentic.reason}`);
      if (`jwks/${snapshot.period}.json` !== name)
        problems.push(`${name} holds period ${showValue(snapshot.period)}`);
      if (
        !newest ||
        snapshot.period > newest.doc.period ||
        (snapshot.period === newest.doc.period && snapshot.version > newest.doc.version)
      ) {
        newest = { doc: snapshot, history };
      }
    }
    if (!newest) {
      this.claims.snapshot_authentic = refuted(
        problems.length
          ? `no usable key snapshot: ${listed(problems, 5)}`
          : 'the bundle has no key snapshot',
      );
      this.history = await loadKeyHistory({ keys: [] });
      return;
    }
    this.history = newest.history;
    this.newestSnapshot = JSON.stringify(newest.doc);
    this.claims.snapshot_authentic = problems.length
      ? refuted(listed(problems, 5))
      : asserted(
          `${names.length} snapshots signed by the pinned publisher key; newest ${newest.doc.period} v${newest.doc.version}`,
        );
  }

  /**
   * The bundle's TSA certificates, unless the auditor pinned roots. A file that is not PEM
   * (or is over the caps of {@link TSA_LIMITS}) anchors nothing: the timestamps that needed
   * it do not chain and are refuted.
   */
  async readTsaCertificates() {
    if (this.options.tsaTrustAnchors) {
      this.anchors = { certs: this.options.tsaTrustAnchors, fromBundle: false };
      return;
    }
    const certs: Uint8Array[] = [];
    for (const name of this.reader.entries.keys()) {
      if (!name.startsWith('tsa/') || !name.endsWith('.pem')) continue;
      const data = await this.readWhole(name, WHOLE_FILE_BYTES.tsaCertificate);
      if (!data || certs.length >= TSA_LIMITS.certificates) continue;
      const pem = data.toString('utf8');
      if (pem.split('-----BEGIN ').length - 1 > TSA_LIMITS.blocksPerFile) continue;
      try {
        certs.push(...parsePemCertificates(pem).slice(0, TSA_LIMITS.certificates - certs.length));
      } catch {
        // not PEM: see above
      }
    }
    this.anchors = { certs, fromBundle: true };
  }

  async checkManifestSignature() {
    try {
      this.claims.manifest_valid = await this.manifestClaim();
    } catch (error) {
      if (error instanceof BundleError) throw error;
      this.claims.manifest_valid = refuted(`manifest cannot be checked: ${messageOf(error)}`);
    }
  }

  async manifestClaim(): Promise<Claim> {
    const manifest = this.signedManifest;
    if (!manifest) return refuted(this.manifestProblem);
    if (!this.reader.has(FILES.manifestJws)) return refuted('manifest.jws is missing');
    const data = await this.readWhole(FILES.manifestJws, WHOLE_FILE_BYTES.manifestJws);
    if (!data)
      return refuted(
        `manifest.jws is larger than ${formatBytes(WHOLE_FILE_BYTES.manifestJws)}: not a JWS`,
      );
    const jws = data.toString('utf8').trim();
    let parsed: ReturnType<typeof parseDetachedJws>;
    try {
      parsed = parseDetachedJws(jws);
    } catch (error) {
      return refuted(`manifest.jws: ${messageOf(error)}`);
    }
    // Base64url has spare bits in its last character: only the canonical spelling is the
    // signature (the manifest.jws bytes are not hashed anywhere either).
    if (base64url(fromBase64url(parsed.signatureB64)) !== parsed.signatureB64)
      return refuted('manifest.jws: the signature is not canonical base64url');
    const kid = typeof parsed.header.kid === 'string' ? parsed.header.kid : '';
    const problem = headerProblem(parsed.header, kid, JWS_TYPES.manifest);
    if (problem) return refuted(`manifest.jws ${problem}`);
    const key = this.history.find(kid);
    if (!key || !isEd25519Jwk(key))
      return refuted(`manifest signed by ${kid}, which is not in the key history`);
    if (key.merchantId !== manifest.merchantId) {
      return refuted(`manifest key ${kid} is not ${manifest.merchantId}'s`);
    }
    const revokedAt = this.history.revokedAt(kid);
    if (revokedAt && Date.parse(revokedAt) <= Date.parse(manifest.createdAt)) {
      return refuted(`manifest key ${kid} was revoked at ${revokedAt}, before the export`);
    }
    let payloadB64: string;
    try {
      payloadB64 = await digestPayloadB64(manifest);
    } catch (error) {
      return refuted(`manifest is not I-JSON: ${messageOf(error)}`);
    }
    const valid = await verifyJwsSignature(
      this.history.cache,
      key,
      parsed.headerB64,
      payloadB64,
      parsed.signatureB64,
    );
    return valid
      ? asserted(`manifest signed by ${manifest.merchantId}'s key ${kid}`)
      : refuted(`manifest signature does not verify with ${kid}: the manifest was altered`);
  }

  // ---- checkpoints and the chain ---------------------------------------------------------

  /**
   * checkpoints_valid: every checkpoint is well-formed (rootHash included), signed by a key of
   * the merchant valid at its createdAt, and its timestamp verifies when it has one. A
   * checkpoint whose signature or key validity is itself unknown makes the claim unknown. An
   * order evidence bundle holds exactly one checkpoint: the one its manifest names.
   */
  async checkCheckpoints() {
    const evidence = this.result.kind === EVIDENCE_KIND;
    const problems: string[] = [];
    const doubts: string[] = [];
    let count = 0;
    let described = '';
    for await (const line of this.lines(FILES.checkpoints, LINE_BYTES.record)) {
      count++;
      const at = `checkpoints.jsonl line ${line.n}`;
      if (evidence && count > 1) {
        problems.push(`${at}: an order evidence bundle holds one checkpoint`);
        continue;
      }
      const parsed = parseLine(line);
      if (!parsed.ok) {
        problems.push(`${at} ${parsed.problem}`);
        continue;
      }
      const validation = validateCheckpoint(parsed.value);
      if (!validation.ok) {
        problems.push(`${at} is not a checkpoint: ${summarize(validation.issues)}`);
        continue;
      }
      const checkpoint = validation.value;
      this.checkpointRoots.push({ seq: checkpoint.seq, rootHash: checkpoint.rootHash });
      if (evidence) {
        this.evidenceCheckpoint = canonicalOf(parsed.value);
        const named = this.evidence?.checkpoint;
        if (named && (named.seq !== checkpoint.seq || named.rootHash !== checkpoint.rootHash))
          problems.push(
            `the manifest names the checkpoint at seq ${named.seq}, checkpoints.jsonl holds seq ${checkpoint.seq} with another rootHash`,
          );
        if (this.evidence && checkpoint.merchantId !== this.evidence.merchantId)
          problems.push(`the checkpoint is of merchant ${showValue(checkpoint.merchantId)}`);
      }
      let report: Awaited<ReturnType<typeof verifyCheckpoint>>;
      try {
        report = await verifyCheckpoint(checkpoint, this.history, {
          tsaTrustAnchors: this.anchors.certs,
        });
      } catch (error) {
        problems.push(`${at} cannot be checked: ${messageOf(error)}`);
        continue;
      }
      const bad = Object.entries(report.claims).filter(
        ([name, c]) => c.status === 'refuted' && name !== 'chain_linked',
      );
      if (bad.length) {
        problems.push(
          `checkpoint seq ${report.seq}: ${bad.map(([n, c]) => `${n}: ${c.reason}`).join('; ')}`,
        );
        continue;
      }
      const { signature_valid: signature, key_valid_at_issuance: key } = report.claims;
      if (signature.status !== 'asserted' || key.status !== 'asserted')
        doubts.push(
          `checkpoint seq ${report.seq}: ${signature.status !== 'asserted' ? signature.reason : key.reason}`,
        );
      const timestamp = report.claims.timestamp_valid;
      described = `the checkpoint at seq ${report.seq} is signed by ${checkpoint.signingKeyKid}, valid at ${checkpoint.createdAt}; ${
        timestamp.status === 'asserted'
          ? `timestamped at ${report.provenAt ?? 'its genTime'}`
          : `its timestamp is ${timestamp.status}: ${timestamp.reason}`
      }`;
      this.checkpointEntries.set(report.seq, checkpoint.entryHash);
      // Only TSA roots the auditor pinned make a checkpoint's time a proof (see readTsaCertificates).
      if (
        report.provenAt &&
        report.claims.signature_valid.status === 'asserted' &&
        !this.anchors.fromBundle
      ) {
        this.checkpointProofs.push({ seq: report.seq, time: report.provenAt });
      }
    }
    if (evidence && count === 0)
      problems.push('the bundle has no checkpoint: its proofs are against nothing');
    this.claims.checkpoints_valid = problems.length
      ? refuted(listed(problems, 5))
      : doubts.length
        ? unknown(listed(doubts, 5))
        : evidence
          ? asserted(described)
          : count
            ? asserted(`${count} checkpoints verify, each with a well-formed rootHash`)
            : unknown('the bundle has no checkpoint');
  }

  /** log.json (SPEC §9): parsed and checked for shape; its use is in {@link checkChain}. */
  async readLog() {
    if (!this.reader.has(FILES.log)) return;
    const data = await this.readWhole(FILES.log, WHOLE_FILE_BYTES.log);
    const fail = (problem: string) => {
      this.log = { ok: false, problem };
    };
    if (!data) return fail(`log.json is larger than ${formatBytes(WHOLE_FILE_BYTES.log)}`);
    const parsed = parseJson(data.toString('utf8'));
    if (!parsed.ok) return fail(`log.json ${parsed.problem}`);
    const value = parsed.value;
    if (!isJsonObject(value) || !isCount(value.size) || !Array.isArray(value.frontier))
      return fail('log.json is not {"size": a non-negative integer, "frontier": [hex, …]}');
    const frontier = value.frontier as unknown[];
    if (!frontier.every((h) => typeof h === 'string' && HASH_PATTERN.test(h)))
      return fail("log.json's frontier holds something other than 64 lowercase hex hashes");
    const size = value.size as number;
    if (frontier.length !== popcount(size))
      return fail(
        `log.json's frontier has ${frontier.length} hashes; a tree of ${size} entries has ${popcount(size)} (one per set bit of its size)`,
      );
    this.log = { ok: true, size, frontier: frontier as string[] };
  }

  /**
   * log_consistent (SPEC §10): every checkpoint whose seq lies in the bundle's chain (from
   * log.json's size to the last chain entry) has its rootHash recomputed from log.json's
   * frontier and the chain entries up to its seq; those outside cannot be, and are named.
   */
  logClaim(replay: LogReplay | undefined, lastChainSeq: number | undefined): Claim {
    if (!this.log.ok || !replay)
      return refuted(this.log.ok ? 'log.json is unusable' : this.log.problem);
    const { size } = this.log;
    const problems = [...replay.problems];
    const firstSeq = this.manifest?.range.firstSeq;
    if (typeof firstSeq === 'number' && size + 1 !== firstSeq)
      problems.push(
        `log.json's size ${size} is not the size of the log before the range's first entry (seq ${firstSeq})`,
      );
    let recomputed = 0;
    const outside: number[] = [];
    for (const { seq, rootHash } of this.checkpointRoots) {
      const root = replay.roots.get(seq);
      if (root === undefined) {
        if (seq < size || lastChainSeq === undefined || seq > lastChainSeq) outside.push(seq);
        else
          problems.push(
            `the rootHash of the checkpoint at seq ${seq} cannot be recomputed: ${replay.broken ?? 'chain.jsonl is broken before it'}`,
          );
      } else if (root !== rootHash) {
        problems.push(
          `the checkpoint at seq ${seq} signs rootHash ${rootHash.slice(0, 12)}…, log.json and chain.jsonl give ${root.slice(0, 12)}…`,
        );
      } else recomputed++;
    }
    if (problems.length) return refuted(listed(problems, 5));
    const range =
      lastChainSeq === undefined ? 'holds no chain entry' : `covers seq ${size}..${lastChainSeq}`;
    const beyond = outside.length
      ? `${outside.length} checkpoint${outside.length === 1 ? '' : 's'} (seq ${outside.slice(0, 5).join(', ')}${outside.length > 5 ? ', …' : ''}) lie outside the bundle's log, which ${range}, and cannot be recomputed from it`
      : '';
    if (recomputed === 0)
      return unknown(
        `no checkpoint to recompute: ${beyond || 'the bundle has no well-formed checkpoint'}`,
      );
    return asserted(
      `the rootHash of ${recomputed} checkpoint${recomputed === 1 ? '' : 's'} recomputes from log.json (size ${size}) and chain.jsonl${beyond ? `; ${beyond}` : ''}`,
    );
  }

  /** The chain entries of chain.jsonl; a line that is not one is reported by `onProblem`. */
  async *chainEntries(onProblem?: (problem: string) => void): AsyncGenerator<ChainEntry> {
    for await (const line of this.lines(FILES.chain, LINE_BYTES.record)) {
      const parsed = parseLine(line);
      const problem = parsed.ok ? chainEntryProblem(parsed.value) : parsed.problem;
      if (problem || !parsed.ok) onProblem?.(`chain.jsonl line ${line.n} ${problem}`);
      else yield parsed.value as ChainEntry;
    }
  }

  /**
   * First pass over chain.jsonl: every link, the checkpoints against it, and their rootHash
   * recomputed from log.json's frontier (log_consistent).
   */
  async checkChain() {
    const problems: string[] = [];
    let previous: ChainEntry | undefined;
    let count = 0;
    const unmatched = new Map(this.checkpointEntries);
    const replay = this.log.ok
      ? new LogReplay(this.log, new Set(this.checkpointRoots.map((c) => c.seq)))
      : undefined;
    await replay?.start();
    let lastChainSeq: number | undefined;
    for await (const entry of this.chainEntries((problem) => problems.push(problem))) {
      count++;
      await replay?.add(entry);
      lastChainSeq = Math.max(lastChainSeq ?? 0, entry.seq);
      let recomputed: string | undefined;
      try {
        recomputed = await computeEntryHash(entry);
      } catch {
        recomputed = undefined;
      }
      if (recomputed !== entry.entryHash)
        problems.push(`chain entry seq ${entry.seq}: entryHash does not recompute`);
      if (previous) {
        if (entry.seq !== previous.seq + 1)
          problems.push(`chain jumps from seq ${previous.seq} to ${entry.seq}`);
        if (entry.prevHash !== previous.entryHash)
          problems.push(
            `chain entry seq ${entry.seq}: prevHash does not link to seq ${previous.seq}`,
          );
      } else if (entry.seq === 1 && entry.prevHash !== '0'.repeat(64)) {
        problems.push('chain entry 1 does not start from the genesis hash');
      }
      const checkpointHash = unmatched.get(entry.seq);
      if (checkpointHash !== undefined) {
        unmatched.delete(entry.seq);
        if (checkpointHash !== entry.entryHash) {
          problems.push(`checkpoint at seq ${entry.seq} names another entryHash`);
          this.checkpointProofs = this.checkpointProofs.filter((p) => p.seq !== entry.seq);
        }
      }
      previous = entry;
    }
    // A checkpoint beyond the exported range proves nothing here.
    this.checkpointProofs = this.checkpointProofs
      .filter((p) => !unmatched.has(p.seq))
      .sort((a, b) => a.seq - b.seq);
    for (let i = this.checkpointProofs.length - 2; i >= 0; i--) {
      const here = this.checkpointProofs[i] as { seq: number; time: string };
      const next = this.checkpointProofs[i + 1] as { seq: number; time: string };
      if (Date.parse(next.time) < Date.parse(here.time)) here.time = next.time;
    }
    this.chainProblems = problems;
    this.chainCount = count;
    await replay?.finish();
    this.claims.log_consistent = this.logClaim(replay, lastChainSeq);
  }

  // ---- receipts ------------------------------------------------------------------------

  async checkReceipts() {
    // Second pass over the chain (lines that are not entries were reported by the first).
    const chain = this.chainEntries()[Symbol.asyncIterator]();
    let current: ChainEntry | undefined;
    let previous: ChainEntry | undefined;
    const firstSeq = this.manifest?.range.firstSeq ?? 1;
    const filtered = Boolean(this.manifest?.range.orderId);
    let lastReceiptSeq = 0;
    // An entry of the range passed over without its receipt is a missing receipt (unless the
    // export was filtered by order, when other orders' entries are there only for the links).
    const passOver = (entry: ChainEntry | undefined) => {
      if (entry && !filtered && entry.seq >= firstSeq && entry.seq > lastReceiptSeq)
        this.missing.push(entry.seq);
    };
    const advanceTo = async (seq: number) => {
      while (!current || current.seq < seq) {
        if (current) passOver(current);
        previous = current;
        const next = await chain.next();
        if (next.done) {
          current = undefined;
          return undefined;
        }
        current = next.value;
      }
      return current.seq === seq ? current : undefined;
    };
    const seenIds = new Set<string>();
    const bodies = new BodyCursor(this, seenIds);
    const total = this.manifest?.counts.receipts ?? 0;
    const runner = this.runner(total);
    try {
      for await (const line of this.lines(FILES.receipts, LINE_BYTES.record)) {
        const parsed = parseLine(line);
        const problem = !parsed.ok
          ? parsed.problem
          : isJsonObject(parsed.value)
            ? undefined
            : `is ${showValue(parsed.value)}, not a receipt object`;
        if (problem || !parsed.ok) {
          this.record(this.unreadableReceipt(line.n, problem));
          continue;
        }
        const receipt = parsed.value as Record<string, unknown>;
        const id = typeof receipt.id === 'string' ? receipt.id : '(no id)';
        const link = isJsonObject(receipt.chain) ? receipt.chain : undefined;
        const seq = link && isSeq(link.seq) ? (link.seq as number) : undefined;
        let chainClaim: Claim | undefined;
        if (seenIds.has(id)) chainClaim = refuted(`receipt ${id} appears twice`);
        if (typeof receipt.id === 'string') seenIds.add(id);
        if (!chainClaim && seq === undefined)
          chainClaim = refuted(
            'the receipt has no chain.seq: a bundle carries every receipt with its chain envelope',
          );
        if (!chainClaim && !((seq as number) > lastReceiptSeq))
          chainClaim = refuted(
            `receipts are not in chain order (seq ${seq} after ${lastReceiptSeq})`,
          );
        const entry = chainClaim ? undefined : await advanceTo(seq as number);
        if (!chainClaim && !entry) chainClaim = refuted(`chain.jsonl has no entry at seq ${seq}`);
        else if (
          !chainClaim &&
          entry &&
          (entry.receiptId !== id || entry.entryHash !== link?.entryHash)
        ) {
          chainClaim = refuted(`chain entry at seq ${seq} is not this receipt's`);
        }
        if (entry) lastReceiptSeq = seq as number;
        const before =
          entry && previous && previous.seq === (seq as number) - 1 ? previous : undefined;
        const proof =
          seq === undefined ? undefined : this.checkpointProofs.find((p) => p.seq >= seq);
        const body = typeof receipt.id === 'string' ? await bodies.of(id) : undefined;
        await runner.submit(
          {
            receipt,
            ...(before ? { previousEntry: { seq: before.seq, entryHash: before.entryHash } } : {}),
            ...(proof
              ? {
                  existedBy: {
                    time: proof.time,
                    evidence: `the timestamped checkpoint at seq ${proof.seq}`,
                  },
                }
              : {}),
            ...(body?.bodies ? { bodies: body.bodies } : {}),
          },
          (report) =>
            this.finishReceipt(report, {
              chainClaim,
              body,
              snapshotUrl: receipt.jwksSnapshotUrl,
            }),
        );
        if (this.result.receiptCount % 1000 === 0)
          this.options.onProgress?.(this.result.receiptCount, total);
      }
    } catch (error) {
      await runner.abort(); // the zip became unreadable: stop the workers, do not wait for them
      throw error;
    }
    await runner.finish();
    // Entries after the last receipt that should have had one.
    passOver(current);
    for (let next = await chain.next(); !next.done; next = await chain.next()) passOver(next.value);
    await bodies.finish();
    this.options.onProgress?.(this.result.receiptCount, total);
    const problems = [...this.chainProblems];
    const missing = [...new Set(this.missing)].sort((a, b) => a - b);
    if (missing.length)
      problems.push(
        `no receipt for chain entries at seq ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}`,
      );
    if (this.manifest && this.manifest.counts.receipts !== this.result.receiptCount) {
      problems.push(
        `manifest counts ${this.manifest.counts.receipts} receipts, receipts.jsonl has ${this.result.receiptCount}`,
      );
    }
    this.claims.chain_complete = problems.length
      ? refuted(listed(problems, 5))
      : asserted(
          `${this.chainCount} chain entries link without gaps${this.manifest?.range.orderId ? '' : ' and every receipt of the range is present'}`,
        );
    if (this.manifest?.includeBodies || this.reader.has(FILES.bodies))
      this.claims.body_matches = bodies.claim(this.manifest);
  }

  /**
   * The receipts of an order evidence bundle (SPEC §9.1), each verified with its proof from
   * proofs.jsonl (same order, one per receipt, all against the checkpoint of
   * checkpoints.jsonl): included_in_log per receipt, and for the bundle that every receipt has
   * its proof, every proof its receipt, and every receipt is of the manifest's order.
   */
  async checkEvidenceReceipts() {
    const manifest = this.evidence;
    const problems: string[] = [];
    const seenIds = new Set<string>();
    const bodies = new BodyCursor(this, seenIds);
    const proofs = new LineCursor<ProofItem>(
      this,
      FILES.proofs,
      LINE_BYTES.record,
      toProofItem,
      seenIds,
      '',
    );
    const total = manifest?.counts.receipts ?? 0;
    const runner = this.runner(total);
    let lastSeq = 0;
    let previous: { seq: number; entryHash: string } | undefined;
    try {
      for await (const line of this.lines(FILES.receipts, LINE_BYTES.record)) {
        const parsed = parseLine(line);
        const problem = !parsed.ok
          ? parsed.problem
          : isJsonObject(parsed.value)
            ? undefined
            : `is ${showValue(parsed.value)}, not a receipt object`;
        if (problem || !parsed.ok) {
          this.record(this.unreadableReceipt(line.n, problem));
          continue;
        }
        const receipt = parsed.value as Record<string, unknown>;
        const id = typeof receipt.id === 'string' ? receipt.id : '(no id)';
        const link = isJsonObject(receipt.chain) ? receipt.chain : undefined;
        const seq = link && isSeq(link.seq) ? (link.seq as number) : undefined;
        if (seenIds.has(id)) problems.push(`receipt ${id} appears twice`);
        if (typeof receipt.id === 'string') seenIds.add(id);
        if (seq !== undefined) {
          if (seq <= lastSeq)
            problems.push(`receipts are not in chain order (seq ${seq} after ${lastSeq})`);
          else lastSeq = seq;
        }
        if (manifest && receipt.orderId !== manifest.orderId)
          problems.push(
            `receipt ${id} is of order ${showValue(receipt.orderId)}, not ${manifest.orderId}`,
          );
        if (manifest && receipt.merchantId !== manifest.merchantId)
          problems.push(`receipt ${id} is of merchant ${showValue(receipt.merchantId)}`);
        const proof = typeof receipt.id === 'string' ? await proofs.of(id) : undefined;
        let inclusionClaim: Claim | undefined;
        if (!proof)
          inclusionClaim = refuted(
            'proofs.jsonl has no proof for it: an order evidence bundle carries one per receipt',
          );
        else if (proof.problem) inclusionClaim = refuted(`its proof ${proof.problem}`);
        else if (
          this.evidenceCheckpoint !== undefined &&
          proof.checkpoint !== this.evidenceCheckpoint
        )
          inclusionClaim = refuted(
            "its proof is against another checkpoint than checkpoints.jsonl's (all proofs of the bundle are against that one)",
          );
        const before =
          seq !== undefined && previous && previous.seq === seq - 1 ? previous : undefined;
        const body = typeof receipt.id === 'string' ? await bodies.of(id) : undefined;
        await runner.submit(
          {
            receipt,
            ...(before ? { previousEntry: before } : {}),
            ...(proof?.proof !== undefined && !inclusionClaim ? { proof: proof.proof } : {}),
            ...(body?.bodies ? { bodies: body.bodies } : {}),
          },
          (report) =>
            this.finishReceipt(report, {
              chainClaim: undefined,
              body,
              snapshotUrl: receipt.jwksSnapshotUrl,
              inclusionClaim,
            }),
        );
        previous =
          seq !== undefined && typeof link?.entryHash === 'string'
            ? { seq, entryHash: link.entryHash }
            : undefined;
        if (this.result.receiptCount % 1000 === 0)
          this.options.onProgress?.(this.result.receiptCount, total);
      }
    } catch (error) {
      await runner.abort();
      throw error;
    }
    await runner.finish();
    await proofs.finish();
    await bodies.finish();
    this.options.onProgress?.(this.result.receiptCount, total);
    // The counts first: they say the most, and the list of problems is cut after five.
    if (manifest && manifest.counts.proofs !== proofs.matched)
      problems.unshift(
        `manifest counts ${manifest.counts.proofs} proofs, ${proofs.matched} lines of proofs.jsonl belong to a receipt`,
      );
    if (manifest && manifest.counts.receipts !== this.result.receiptCount)
      problems.unshift(
        `manifest counts ${manifest.counts.receipts} receipts, receipts.jsonl has ${this.result.receiptCount}`,
      );
    problems.push(...proofs.problems);
    const counts = this.result.counts.included_in_log ?? { asserted: 0, refuted: 0, unknown: 0 };
    const order = manifest ? `order ${manifest.orderId}` : 'the order';
    const at = manifest
      ? ` whose rootHash the checkpoint at seq ${manifest.checkpoint.seq} signs`
      : '';
    if (this.result.receiptCount === 0) problems.push('the bundle has no receipt');
    this.claims.included_in_log = problems.length
      ? refuted(listed(problems, 5))
      : counts.refuted
        ? refuted(
            `${counts.refuted} of ${this.result.receiptCount} receipts of ${order} are not proven in the log (see the receipts)`,
          )
        : counts.unknown
          ? unknown(
              `${counts.unknown} of ${this.result.receiptCount} receipts of ${order} are not proven in the log (see the receipts)`,
            )
          : asserted(
              `each of the ${this.result.receiptCount} receipts of ${order} has its proof: a leaf of the log tree${at}`,
            );
    if (manifest?.includeBodies || this.reader.has(FILES.bodies))
      this.claims.body_matches = bodies.claim(manifest);
  }

  /** The report of a receipts.jsonl line that is not a receipt at all. */
  unreadableReceipt(n: number, problem: string | undefined): ReceiptReport {
    const why = 'the line is not a receipt';
    return {
      id: `(receipts.jsonl line ${n})`,
      claims: {
        signature_valid: refuted(`receipts.jsonl line ${n} ${problem}`),
        key_valid_at_issuance: unknown(why),
        timestamp_valid: unknown(why),
        chain_linked: unknown(why),
        snapshot_authentic: this.history.authentic,
      },
    };
  }

  /**
   * Where receipts are verified: on worker threads for large bundles (one per core, the main
   * thread keeps reading), inline for small ones, whose worker start-up would cost more.
   */
  runner(total: number) {
    const inline = {
      submit: async (item: WorkItem, done: (report: ReceiptReport) => void) => {
        let report: ReceiptReport;
        try {
          report = await verifyReceipt(item.receipt, this.history, {
            tsaTrustAnchors: this.anchors.certs,
            timestampProvesExistence: !this.anchors.fromBundle,
            ...(item.previousEntry ? { previousEntry: item.previousEntry } : {}),
            ...(item.existedBy ? { existedBy: item.existedBy } : {}),
            ...(item.bodies ? { bodies: item.bodies } : {}),
            ...(item.proof !== undefined ? { proof: item.proof } : {}),
          });
        } catch (error) {
          report = uncheckable(item.receipt, error);
        }
        done(report);
      },
      finish: async () => {},
      abort: async () => {},
    };
    const workers = this.options.workers ?? (total >= PARALLEL_FROM ? availableParallelism() : 0);
    if (workers < 1 || !this.newestSnapshot) return inline;
    const pool = new ReceiptPool(
      {
        snapshot: this.newestSnapshot,
        publisher: { keys: [...this.options.publisher.values()] },
        anchors: this.anchors.certs,
        anchorsPinned: !this.anchors.fromBundle,
      },
      workers,
    );
    const pending: ((report: ReceiptReport) => void)[] = [];
    const deliver = (reports: ReceiptReport[]) => {
      for (const report of reports) (pending.shift() as (report: ReceiptReport) => void)(report);
    };
    return {
      submit: async (item: WorkItem, done: (report: ReceiptReport) => void) => {
        pending.push(done);
        await pool.add(item, deliver);
      },
      finish: async () => {
        try {
          await pool.drain(deliver);
        } finally {
          await pool.close();
        }
      },
      abort: () => pool.close(),
    };
  }

  /** Bundle-level facts a worker cannot know, then the report is counted. */
  finishReceipt(
    report: ReceiptReport,
    context: {
      chainClaim: Claim | undefined;
      body: BodyItem | undefined;
      snapshotUrl: unknown;
      /** An evidence bundle's finding about the receipt's proof line, over the verifier's. */
      inclusionClaim?: Claim | undefined;
    },
  ) {
    if (context.chainClaim) report.claims.chain_linked = context.chainClaim;
    if (context.inclusionClaim) report.claims.included_in_log = context.inclusionClaim;
    else if (this.chainProblems.length && report.claims.chain_linked.status === 'asserted') {
      report.claims.chain_linked = refuted(
        `the chain around it is broken: ${this.chainProblems[0]}`,
      );
    }
    if (context.body?.problem) {
      report.claims.body_matches = refuted(context.body.problem);
    } else if (!context.body && this.signedManifest?.includeBodies) {
      report.claims.body_matches = unknown(
        'no body in the bundle: issued with hashes only, or destroyed at the end of retention',
      );
    }
    if (this.anchors.fromBundle && report.claims.timestamp_valid.status === 'asserted') {
      report.claims.timestamp_valid = {
        ...report.claims.timestamp_valid,
        source: 'operator_asserted',
        reason: `${report.claims.timestamp_valid.reason} (TSA roots from the bundle; pass --tsa-trust to pin your own)`,
      };
    }
    const named =
      typeof context.snapshotUrl === 'string'
        ? /(\d{4}-\d{2})\.json$/.exec(context.snapshotUrl)?.[1]
        : undefined;
    if (
      named &&
      !this.reader.has(`jwks/${named}.json`) &&
      report.claims.key_valid_at_issuance.status === 'asserted'
    ) {
      report.claims.key_valid_at_issuance = refuted(
        `the snapshot it names (${named}) is not in the bundle`,
      );
    }
    this.record(report);
  }

  record(report: ReceiptReport) {
    this.result.receiptCount++;
    for (const [name, claim] of Object.entries(report.claims) as [string, Claim][]) {
      const counts = this.result.counts[name] ?? { asserted: 0, refuted: 0, unknown: 0 };
      this.result.counts[name] = counts;
      counts[claim.status]++;
      if (claim.status === 'refuted' && this.result.firstFailures.length < MAX_FAILURES) {
        this.result.firstFailures.push({ id: report.id, claim: name, reason: claim.reason });
      }
    }
    if (this.options.keepReceipts) this.result.receipts.push(report);
    this.options.onReceipt?.(report);
  }
}

/** Entries appended to the frontier at once (memory stays flat between checkpoints). */
const REPLAY_BATCH = 4096;

/**
 * The log tree replayed from log.json's frontier over chain.jsonl (SPEC §6.1, §9): the root at
 * each seq in `targets`. chain.jsonl starts with the entry just before the range (seq = size),
 * or at seq 1 when size is 0; entries then follow without gaps. Where they do not, the roots
 * after that point are not recomputed and `broken` says why.
 */
class LogReplay {
  readonly problems: string[] = [];
  /** seq → recomputed rootHash, for the seqs asked for. */
  readonly roots = new Map<number, string>();
  broken: string | undefined;
  #frontier: string[];
  #size: number;
  #pending: string[] = [];
  #first = true;

  constructor(
    log: LogFrontier,
    private readonly targets: ReadonlySet<number>,
  ) {
    this.#frontier = log.frontier;
    this.#size = log.size;
  }

  async start() {
    if (this.#size > 0 && this.targets.has(this.#size))
      this.roots.set(this.#size, await rootFromFrontier(this.#frontier));
  }

  async add(entry: ChainEntry) {
    if (this.broken) return;
    const size = this.#size;
    if (this.#first) {
      this.#first = false;
      const expected = size === 0 ? 1 : size;
      if (entry.seq !== expected) {
        this.broken = `log.json's size ${size} does not meet chain.jsonl`;
        this.problems.push(
          `log.json's size ${size} does not meet chain.jsonl, which starts at seq ${entry.seq} (it must start ${size === 0 ? 'at seq 1' : `with the entry just before the range, seq ${size}`})`,
        );
        return;
      }
      if (entry.seq === size) {
        // An odd size's last frontier hash is the leaf of entry `size` itself.
        if (size % 2 === 1 && this.#frontier.at(-1) !== (await merkleLeafHash(entry.entryHash)))
          this.problems.push(
            `log.json's frontier does not end with the leaf of chain entry ${size}, the entry just before the range`,
          );
        return;
      }
    }
    const next = this.#size + this.#pending.length + 1;
    if (entry.seq !== next) {
      this.broken = `chain.jsonl has seq ${entry.seq} where seq ${next} should be`;
      return;
    }
    this.#pending.push(entry.entryHash);
    if (this.targets.has(entry.seq) || this.#pending.length >= REPLAY_BATCH) await this.#flush();
  }

  async finish() {
    if (!this.broken) await this.#flush();
  }

  async #flush() {
    if (this.#pending.length === 0) return;
    try {
      this.#frontier = await appendToFrontier(this.#frontier, this.#size, this.#pending);
    } catch (error) {
      this.broken = `the frontier cannot be extended: ${messageOf(error)}`;
      return;
    }
    this.#size += this.#pending.length;
    this.#pending = [];
    if (this.targets.has(this.#size))
      this.roots.set(this.#size, await rootFromFrontier(this.#frontier));
  }
}

/**
 * A JSON Lines file read alongside receipts.jsonl (bodies.jsonl, proofs.jsonl): both are in
 * chain order, so each receipt takes the next line when that line names it. A line that names
 * a receipt already passed (repeated, or out of order), or that names none, is a problem of
 * the file as a whole.
 */
class LineCursor<T extends CursorItem> {
  readonly #lines: AsyncIterator<Line>;
  #next: T | undefined;
  #done = false;
  readonly problems: string[] = [];
  matched = 0;

  constructor(
    verification: Verification,
    private readonly file: string,
    maxLine: number,
    private readonly toItem: (line: Line) => T,
    private readonly seenIds: ReadonlySet<string>,
    /** What "the next receipt" has, in the reason: "with bodies". */
    private readonly which: string,
  ) {
    this.#lines = verification.lines(file, maxLine)[Symbol.asyncIterator]();
  }

  async #peek(): Promise<T | undefined> {
    if (this.#next || this.#done) return this.#next;
    const next = await this.#lines.next();
    if (next.done) {
      this.#done = true;
      return undefined;
    }
    this.#next = this.toItem(next.value);
    return this.#next;
  }

  /** The line of receipt `id`, when the next line is its. */
  async of(id: string): Promise<T | undefined> {
    for (let item = await this.#peek(); item; item = await this.#peek()) {
      if (item.id === id) {
        this.#next = undefined;
        this.matched++;
        return item;
      }
      if (item.id !== undefined && !this.seenIds.has(item.id)) return undefined; // a later receipt's
      this.#next = undefined;
      this.problems.push(
        item.id === undefined
          ? `${this.file} line ${item.n} ${item.problem}`
          : `${this.file} line ${item.n} names ${item.id}, which is not the next receipt${this.which} (repeated or out of chain order)`,
      );
    }
    return undefined;
  }

  /** Lines left after the last receipt name no receipt of the bundle. */
  async finish() {
    for (let item = await this.#peek(); item; item = await this.#peek()) {
      this.#next = undefined;
      this.problems.push(
        item.id === undefined
          ? `${this.file} line ${item.n} ${item.problem}`
          : `${this.file} line ${item.n} names ${item.id}, which is not a receipt of the bundle in chain order`,
      );
    }
  }
}

/** bodies.jsonl, whose problems make the bundle-level `body_matches` claim. */
class BodyCursor extends LineCursor<BodyItem> {
  constructor(verification: Verification, seenIds: ReadonlySet<string>) {
    super(verification, FILES.bodies, LINE_BYTES.bodies, toBodyItem, seenIds, ' with bodies');
  }

  claim(manifest: { counts: { bodies: number } } | undefined): Claim {
    const problems = [...this.problems];
    if (manifest && manifest.counts.bodies !== this.matched)
      problems.push(
        `manifest counts ${manifest.counts.bodies} disclosed bodies, ${this.matched} lines of bodies.jsonl belong to a receipt`,
      );
    return problems.length
      ? refuted(listed(problems, 5))
      : asserted(
          `each of the ${this.matched} lines of bodies.jsonl belongs to a receipt, in chain order; each receipt's claim checks its hashes`,
        );
  }
}

/** A proofs.jsonl line: the proof goes to the verifier as parsed; it checks its shape. */
function toProofItem(line: Line): ProofItem {
  const parsed = parseLine(line);
  if (!parsed.ok) return { n: line.n, problem: parsed.problem };
  const value = parsed.value;
  if (!isJsonObject(value) || typeof value.receiptId !== 'string')
    return { n: line.n, problem: 'is not an object with a string receiptId' };
  const checkpoint = canonicalOf(value.checkpoint);
  return {
    n: line.n,
    id: value.receiptId,
    proof: value,
    ...(checkpoint !== undefined ? { checkpoint } : {}),
  };
}

function toBodyItem(line: Line): BodyItem {
  const parsed = parseLine(line);
  if (!parsed.ok) return { n: line.n, problem: parsed.problem };
  const value = parsed.value;
  if (!isJsonObject(value) || typeof value.id !== 'string')
    return { n: line.n, problem: 'is not an object with a string id' };
  const missing = (['input', 'output'] as const).filter((kind) => !Object.hasOwn(value, kind));
  if (missing.length)
    return {
      n: line.n,
      id: value.id,
      problem: `its line in bodies.jsonl (line ${line.n}) has no ${missing.join(' and ')}`,
    };
  return { n: line.n, id: value.id, bodies: { input: value.input, output: value.output } };
}

/** What is wrong with a chain.jsonl line's value, if anything. */
function chainEntryProblem(value: unknown): string | undefined {
  if (!isJsonObject(value)) return `is ${showValue(value)}, not a chain entry object`;
  const missing: string[] = [];
  if (!isSeq(value.seq)) missing.push('seq (a positive integer)');
  for (const member of ['prevHash', 'receiptHash', 'entryHash'] as const)
    if (typeof value[member] !== 'string' || !HASH_PATTERN.test(value[member] as string))
      missing.push(`${member} (64 lowercase hex)`);
  if (typeof value.receiptId !== 'string') missing.push('receiptId (a string)');
  return missing.length ? `is not a chain entry: needs ${missing.join(', ')}` : undefined;
}

/** The members of manifest.json the verifier relies on, with their types. */
function manifestProblems(value: unknown): string[] {
  if (!isJsonObject(value)) return [`it is ${showValue(value)}, not an object`];
  const problems: string[] = [];
  const need = (ok: boolean, what: string) => {
    if (!ok) problems.push(what);
  };
  need(typeof value.bundleId === 'string', 'bundleId must be a string');
  need(typeof value.merchantId === 'string', 'merchantId must be a string');
  need(
    JURISDICTIONS.includes(value.jurisdiction as never),
    `jurisdiction must be one of ${JURISDICTIONS.join(', ')}`,
  );
  need(isTimestampMs(value.createdAt), 'createdAt must be an RFC 3339 UTC time with milliseconds');
  need(typeof value.includeBodies === 'boolean', 'includeBodies must be a boolean');
  const range = value.range;
  if (!isJsonObject(range)) problems.push('range must be an object');
  else {
    need(
      range.orderId === null || typeof range.orderId === 'string',
      'range.orderId must be a string or null',
    );
    for (const member of ['firstSeq', 'lastSeq'] as const)
      need(
        range[member] === null || isSeq(range[member]),
        `range.${member} must be a positive integer or null`,
      );
  }
  const counts = value.counts;
  if (!isJsonObject(counts)) problems.push('counts must be an object');
  else
    for (const member of [
      'receipts',
      'chainEntries',
      'checkpoints',
      'snapshots',
      'tsaCertificates',
      'bodies',
      'bodiesUnavailable',
    ])
      need(isCount(counts[member]), `counts.${member} must be a non-negative integer`);
  problems.push(...filesProblems(value.files));
  return problems;
}

/** The members of an order evidence manifest.json (SPEC §9.1) the verifier relies on. */
function evidenceManifestProblems(value: unknown): string[] {
  if (!isJsonObject(value)) return [`it is ${showValue(value)}, not an object`];
  const problems: string[] = [];
  const need = (ok: boolean, what: string) => {
    if (!ok) problems.push(what);
  };
  need(typeof value.bundleId === 'string', 'bundleId must be a string');
  need(typeof value.merchantId === 'string', 'merchantId must be a string');
  need(typeof value.orderId === 'string', 'orderId must be a string');
  need(isTimestampMs(value.createdAt), 'createdAt must be an RFC 3339 UTC time with milliseconds');
  need(typeof value.includeBodies === 'boolean', 'includeBodies must be a boolean');
  const checkpoint = value.checkpoint;
  need(
    isJsonObject(checkpoint) &&
      isSeq(checkpoint.seq) &&
      typeof checkpoint.rootHash === 'string' &&
      HASH_PATTERN.test(checkpoint.rootHash),
    'checkpoint must be { seq, rootHash }',
  );
  const counts = value.counts;
  if (!isJsonObject(counts)) problems.push('counts must be an object');
  else
    for (const member of [
      'receipts',
      'proofs',
      'checkpoints',
      'snapshots',
      'tsaCertificates',
      'bodies',
      'bodiesUnavailable',
    ])
      need(isCount(counts[member]), `counts.${member} must be a non-negative integer`);
  problems.push(...filesProblems(value.files));
  return problems;
}

/** manifest.files: an array of { path, bytes, sha256 }. */
function filesProblems(files: unknown): string[] {
  if (!Array.isArray(files)) return ['files must be an array'];
  const problems: string[] = [];
  files.forEach((file: unknown, i: number) => {
    if (
      !(
        isJsonObject(file) &&
        typeof file.path === 'string' &&
        isCount(file.bytes) &&
        typeof file.sha256 === 'string' &&
        HASH_PATTERN.test(file.sha256)
      )
    )
      problems.push(`files[${i}] must be { path, bytes, sha256 }`);
  });
  return problems;
}

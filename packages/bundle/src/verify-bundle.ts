import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import {
  entryHash as computeEntryHash,
  digestPayloadB64,
  headerProblem,
  JWS_TYPES,
  type JwksSnapshot,
  parseDetachedJws,
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
import { bodyPath, type ChainEntry, FILES, type Manifest } from './layout';
import { ReceiptPool, type WorkItem } from './parallel';
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
}

export interface BundleVerification {
  ok: boolean;
  claims: Record<string, Claim>;
  receipts: ReceiptReport[];
  /** Per receipt claim: how many were asserted, refuted, unknown. */
  counts: Record<string, Record<Claim['status'], number>>;
  firstFailures: { id: string; claim: string; reason: string }[];
  receiptCount: number;
}

export class BundleError extends Error {
  override readonly name = 'BundleError';
}

const MAX_FAILURES = 20;
const PARALLEL_FROM = 2_000;

/**
 * Verifies an export bundle offline (SPEC §9, §10): file hashes, manifest signature,
 * snapshots, every receipt with its key, timestamp and chain link, checkpoints, disclosed
 * bodies. Streams the zip: memory grows with the number of receipt ids, not their content.
 */
export async function verifyBundle(
  path: string,
  options: BundleVerificationOptions,
): Promise<BundleVerification> {
  let reader: BundleReader;
  try {
    reader = await BundleReader.open(path);
  } catch (error) {
    throw new BundleError(`${path} is not a readable zip: ${(error as Error).message}`);
  }
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
    claims: this.claims,
    receipts: [],
    counts: {},
    firstFailures: [],
    receiptCount: 0,
  };
  manifest: Manifest | undefined;
  history!: KeyHistory;
  /** The newest snapshot, handed to worker threads. */
  newestSnapshot: string | undefined;
  anchors: { certs: Uint8Array[]; fromBundle: boolean } = { certs: [], fromBundle: true };
  /** seq → earliest proven time from a verified, timestamped checkpoint at that seq. */
  checkpointProofs: { seq: number; time: string }[] = [];
  checkpointEntries = new Map<number, string>();

  constructor(
    readonly reader: BundleReader,
    readonly options: BundleVerificationOptions,
  ) {}

  async run(): Promise<BundleVerification> {
    await this.readManifest();
    await this.readSnapshots();
    await this.readTsaCertificates();
    await this.checkManifestSignature();
    await this.checkCheckpoints();
    await this.checkChain();
    await this.checkReceipts();
    await this.checkFiles();
    this.result.ok =
      Object.values(this.claims).every((c) => c.status !== 'refuted') &&
      this.result.firstFailures.length === 0;
    return this.result;
  }

  // ---- files -------------------------------------------------------------------------

  async readFile(name: string): Promise<Buffer> {
    const data = await this.reader.read(name);
    this.actual.set(name, {
      bytes: data.length,
      sha256: createHash('sha256').update(data).digest('hex'),
    });
    return data;
  }

  /** Lines of a JSON Lines file, hashing the raw bytes as they stream by. */
  async *lines(name: string): AsyncIterable<string> {
    if (!this.reader.has(name)) return;
    const stream = await this.reader.stream(name);
    const hash = createHash('sha256');
    let bytes = 0;
    stream.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    for await (const line of createInterface({
      input: stream,
      crlfDelay: Number.POSITIVE_INFINITY,
    })) {
      if (line !== '') yield line;
    }
    this.actual.set(name, { bytes, sha256: hash.digest('hex') });
  }

  async checkFiles() {
    const problems: string[] = [];
    for (const name of this.reader.entries.keys()) {
      if (!this.actual.has(name) && name !== FILES.manifest && name !== FILES.manifestJws)
        await this.readFile(name);
    }
    const listed = new Map((this.manifest?.files ?? []).map((f) => [f.path, f]));
    for (const [path, expected] of listed) {
      const got = this.actual.get(path);
      if (!got) problems.push(`${path} is listed but missing`);
      else if (got.bytes !== expected.bytes || got.sha256 !== expected.sha256)
        problems.push(`${path} does not match its SHA-256`);
    }
    for (const name of this.reader.entries.keys()) {
      if (name !== FILES.manifest && name !== FILES.manifestJws && !listed.has(name))
        problems.push(`${name} is not in the manifest`);
    }
    if (!this.manifest) problems.unshift('no readable manifest.json');
    for (const name of new Set(this.reader.duplicates))
      problems.unshift(`${name} occurs more than once in the zip`);
    this.claims.files_intact = problems.length
      ? refuted(
          problems.slice(0, 10).join('; ') +
            (problems.length > 10 ? ` (+${problems.length - 10} more)` : ''),
        )
      : asserted(
          `all ${listed.size} files match their size and SHA-256 in the manifest; none added`,
        );
  }

  // ---- manifest, snapshots, TSA --------------------------------------------------------

  async readManifest() {
    if (!this.reader.has(FILES.manifest)) return;
    try {
      this.manifest = JSON.parse(
        (await this.reader.read(FILES.manifest)).toString('utf8'),
      ) as Manifest;
    } catch {
      this.manifest = undefined;
    }
  }

  async readSnapshots() {
    const names = [...this.reader.entries.keys()]
      .filter((n) => /^jwks\/\d{4}-\d{2}\.json$/.test(n))
      .sort();
    const cache = new KeyCache();
    const problems: string[] = [];
    let newest: { doc: JwksSnapshot; history: KeyHistory } | undefined;
    for (const name of names) {
      let doc: JwksSnapshot;
      try {
        doc = JSON.parse((await this.readFile(name)).toString('utf8'));
        const history = await loadKeyHistory(doc, { publisher: this.options.publisher, cache });
        if (history.authentic.status !== 'asserted')
          problems.push(`${name}: ${history.authentic.reason}`);
        if (`jwks/${doc.period}.json` !== name) problems.push(`${name} holds period ${doc.period}`);
        if (
          !newest ||
          doc.period > newest.doc.period ||
          (doc.period === newest.doc.period && doc.version > newest.doc.version)
        ) {
          newest = { doc, history };
        }
      } catch (error) {
        problems.push(`${name}: ${(error as Error).message}`);
      }
    }
    if (!newest) {
      this.claims.snapshot_authentic = refuted('the bundle has no key snapshot');
      this.history = await loadKeyHistory({ keys: [] });
      return;
    }
    this.history = newest.history;
    this.newestSnapshot = JSON.stringify(newest.doc);
    this.claims.snapshot_authentic = problems.length
      ? refuted(problems.join('; '))
      : asserted(
          `${names.length} snapshots signed by the pinned publisher key; newest ${newest.doc.period} v${newest.doc.version}`,
        );
  }

  async readTsaCertificates() {
    if (this.options.tsaTrustAnchors) {
      this.anchors = { certs: this.options.tsaTrustAnchors, fromBundle: false };
      return;
    }
    const certs: Uint8Array[] = [];
    for (const name of this.reader.entries.keys()) {
      if (name.startsWith('tsa/') && name.endsWith('.pem'))
        certs.push(...parsePemCertificates((await this.readFile(name)).toString('utf8')));
    }
    this.anchors = { certs, fromBundle: true };
  }

  async checkManifestSignature() {
    this.claims.manifest_valid = await this.manifestClaim();
  }

  async manifestClaim(): Promise<Claim> {
    const manifest = this.manifest;
    if (!manifest) return refuted('manifest.json is missing or not JSON');
    if (!this.reader.has(FILES.manifestJws)) return refuted('manifest.jws is missing');
    const jws = (await this.reader.read(FILES.manifestJws)).toString('utf8').trim();
    let parsed: ReturnType<typeof parseDetachedJws>;
    try {
      parsed = parseDetachedJws(jws);
    } catch (error) {
      return refuted(`manifest.jws: ${(error as Error).message}`);
    }
    const kid = String(parsed.header.kid ?? '');
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
      return refuted(`manifest is not I-JSON: ${(error as Error).message}`);
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

  async checkCheckpoints() {
    const problems: string[] = [];
    let count = 0;
    for await (const line of this.lines(FILES.checkpoints)) {
      count++;
      let checkpoint: { seq?: number; entryHash?: string };
      try {
        checkpoint = JSON.parse(line);
      } catch {
        problems.push(`checkpoints.jsonl line ${count} is not JSON`);
        continue;
      }
      const report = await verifyCheckpoint(checkpoint, this.history, {
        tsaTrustAnchors: this.anchors.certs,
      });
      const bad = Object.entries(report.claims).filter(
        ([name, c]) => c.status === 'refuted' && name !== 'chain_linked',
      );
      if (bad.length) {
        problems.push(
          `checkpoint seq ${report.seq}: ${bad.map(([n, c]) => `${n}: ${c.reason}`).join('; ')}`,
        );
        continue;
      }
      this.checkpointEntries.set(report.seq, String(checkpoint.entryHash));
      // Only TSA roots the auditor pinned make a checkpoint's time a proof (see readTsaCertificates).
      if (
        report.provenAt &&
        report.claims.signature_valid.status === 'asserted' &&
        !this.anchors.fromBundle
      ) {
        this.checkpointProofs.push({ seq: report.seq, time: report.provenAt });
      }
    }
    this.claims.checkpoints_valid = problems.length
      ? refuted(problems.slice(0, 5).join('; '))
      : count
        ? asserted(`${count} checkpoints verify`)
        : unknown('the bundle has no checkpoint');
  }

  /** First pass over chain.jsonl: every link, and the checkpoints against it. */
  async checkChain() {
    const problems: string[] = [];
    let previous: ChainEntry | undefined;
    let count = 0;
    const unmatched = new Map(this.checkpointEntries);
    for await (const line of this.lines(FILES.chain)) {
      count++;
      const entry = JSON.parse(line) as ChainEntry;
      const recomputed = await computeEntryHash(entry);
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
  }

  chainProblems: string[] = [];
  chainCount = 0;

  // ---- receipts ------------------------------------------------------------------------

  async checkReceipts() {
    const chain = this.lines(FILES.chain)[Symbol.asyncIterator]();
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
        current = JSON.parse(next.value) as ChainEntry;
      }
      return current.seq === seq ? current : undefined;
    };
    const seenIds = new Set<string>();
    const total = this.manifest?.counts.receipts ?? 0;
    const runner = this.runner(total);
    for await (const line of this.lines(FILES.receipts)) {
      let receipt: {
        id?: string;
        chain?: { seq?: number; entryHash?: string };
        jwksSnapshotUrl?: string;
      };
      try {
        receipt = JSON.parse(line);
      } catch {
        this.record({
          id: `(line ${this.result.receiptCount + 1})`,
          claims: { signature_valid: refuted('receipts.jsonl line is not JSON') } as never,
        });
        continue;
      }
      const id = String(receipt.id);
      const seq = Number(receipt.chain?.seq);
      let chainClaim: Claim | undefined;
      if (seenIds.has(id)) chainClaim = refuted(`receipt ${id} appears twice`);
      seenIds.add(id);
      if (!chainClaim && !(seq > lastReceiptSeq))
        chainClaim = refuted(
          `receipts are not in chain order (seq ${seq} after ${lastReceiptSeq})`,
        );
      const entry = chainClaim ? undefined : await advanceTo(seq);
      if (!chainClaim && !entry) chainClaim = refuted(`chain.jsonl has no entry at seq ${seq}`);
      else if (
        !chainClaim &&
        entry &&
        (entry.receiptId !== id || entry.entryHash !== receipt.chain?.entryHash)
      ) {
        chainClaim = refuted(`chain entry at seq ${seq} is not this receipt's`);
      }
      if (entry) lastReceiptSeq = seq;
      const before = entry && previous && previous.seq === seq - 1 ? previous : undefined;
      const proof = this.checkpointProofs.find((p) => p.seq >= seq);
      const bodies = await this.bodiesOf(id);
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
          ...(bodies === undefined ? {} : { bodies }),
        },
        (report) =>
          this.finishReceipt(report, {
            chainClaim,
            hasBodies: bodies !== undefined,
            snapshotUrl: receipt.jwksSnapshotUrl,
          }),
      );
      if (this.result.receiptCount % 1000 === 0)
        this.options.onProgress?.(this.result.receiptCount, total);
    }
    await runner.finish();
    // Entries after the last receipt that should have had one.
    passOver(current);
    for (let next = await chain.next(); !next.done; next = await chain.next())
      passOver(JSON.parse(next.value));
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
      ? refuted(problems.slice(0, 5).join('; '))
      : asserted(
          `${this.chainCount} chain entries link without gaps${this.manifest?.range.orderId ? '' : ' and every receipt of the range is present'}`,
        );
  }

  missing: number[] = [];

  /**
   * Where receipts are verified: on worker threads for large bundles (one per core, the main
   * thread keeps reading), inline for small ones, whose worker start-up would cost more.
   */
  runner(total: number) {
    const inline = {
      submit: async (item: WorkItem, done: (report: ReceiptReport) => void) => {
        done(
          await verifyReceipt(item.receipt, this.history, {
            tsaTrustAnchors: this.anchors.certs,
            timestampProvesExistence: !this.anchors.fromBundle,
            ...(item.previousEntry ? { previousEntry: item.previousEntry } : {}),
            ...(item.existedBy ? { existedBy: item.existedBy } : {}),
            ...(item.bodies ? { bodies: item.bodies } : {}),
          }),
        );
      },
      finish: async () => {},
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
    };
  }

  /** Bundle-level facts a worker cannot know, then the report is counted. */
  finishReceipt(
    report: ReceiptReport,
    context: { chainClaim: Claim | undefined; hasBodies: boolean; snapshotUrl: unknown },
  ) {
    if (context.chainClaim) report.claims.chain_linked = context.chainClaim;
    else if (this.chainProblems.length && report.claims.chain_linked.status === 'asserted') {
      report.claims.chain_linked = refuted(
        `the chain around it is broken: ${this.chainProblems[0]}`,
      );
    }
    if (!context.hasBodies && this.manifest?.includeBodies) {
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
    const named = /(\d{4}-\d{2})\.json$/.exec(String(context.snapshotUrl))?.[1];
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

  async bodiesOf(id: string): Promise<{ input?: unknown; output?: unknown } | undefined> {
    const name = bodyPath(id);
    if (!this.reader.has(name)) return undefined;
    try {
      const parsed = JSON.parse((await this.readFile(name)).toString('utf8'));
      return { input: parsed.input, output: parsed.output };
    } catch {
      return { input: Symbol('unreadable') };
    }
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

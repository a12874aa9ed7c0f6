import { periodOfSnapshotUrl } from '@quittance/format';
import { asserted, type Claim, type ReceiptReport, refuted, unknown } from '../claims';
import type { BodyItem } from './bodies';
import { BodyCursor } from './bodies';
import { type ChainRead, chainEntries } from './chain';
import { type BundleContents, type Line, parseLine } from './contents';
import { isJsonObject, isSeq, ProblemList, showValue } from './json';
import { type ChainEntry, FILES, snapshotPath } from './layout';
import { LINE_BYTES, unusableLines } from './limits';
import type { ManifestView } from './manifest';
import type { ReceiptRunner } from './runner';
import type { ReceiptTally } from './tally';

/** A receipts.jsonl line as the bundle steps see it, before the verifier does. */
export type ReceiptLine =
  | {
      ok: true;
      receipt: Record<string, unknown>;
      /** The line's text, which parses to `receipt`. */
      text: string;
      /** Its id, or "(no id)". */
      id: string;
      /** Its id when it is a string (the key bodies and proofs are matched on). */
      ownId: string | undefined;
      /** chain.seq when it is a positive integer. */
      seq: number | undefined;
      /** chain.entryHash as given. */
      entryHash: unknown;
    }
  | { ok: false; report: ReceiptReport };

/** Parses one receipts.jsonl line: a receipt object, or the report of a line that is none. */
export function readReceiptLine(line: Line, snapshotAuthentic: Claim): ReceiptLine {
  const parsed = parseLine(line);
  const problem = !parsed.ok
    ? parsed.problem
    : isJsonObject(parsed.value)
      ? undefined
      : `is ${showValue(parsed.value)}, not a receipt object`;
  if (problem !== undefined || !parsed.ok || line.problem !== undefined)
    return { ok: false, report: unreadableReceipt(line.n, problem, snapshotAuthentic) };
  const receipt = parsed.value as Record<string, unknown>;
  const link = isJsonObject(receipt.chain) ? receipt.chain : undefined;
  const ownId = typeof receipt.id === 'string' ? receipt.id : undefined;
  return {
    ok: true,
    receipt,
    text: line.text,
    id: ownId ?? '(no id)',
    ownId,
    seq: link && isSeq(link.seq) ? link.seq : undefined,
    entryHash: link?.entryHash,
  };
}

/** The report of a receipts.jsonl line that is not a receipt at all. */
function unreadableReceipt(
  n: number,
  problem: string | undefined,
  snapshotAuthentic: Claim,
): ReceiptReport {
  const why = 'the line is not a receipt';
  return {
    id: `(receipts.jsonl line ${n})`,
    claims: {
      signature_valid: refuted(`receipts.jsonl line ${n} ${problem}`),
      key_valid_at_issuance: unknown(why),
      timestamp_valid: unknown(why),
      chain_linked: unknown(why),
      snapshot_authentic: snapshotAuthentic,
    },
  };
}

/** What the bundle knows that a receipt's own verification cannot. */
export interface BundleFacts {
  /** chain.jsonl's problems: a receipt's link is asserted only in an unbroken chain. */
  chainProblems: readonly string[];
  /** The manifest says bodies were included: a receipt without one says why. */
  includeBodies: boolean;
  /** The TSA roots are the bundle's own: a timestamp is then the operator's word. */
  anchorsFromBundle: boolean;
  contents: BundleContents;
  /** An export's verified checkpoints that its chain recomputes (ChainRead.covering). */
  covering?: Pick<ChainRead, 'covering' | 'coveredAfter'> | undefined;
}

/** A receipt's own findings, from the bundle's lines around it. */
export interface ReceiptContext {
  chainClaim?: Claim | undefined;
  body: BodyItem | undefined;
  snapshotUrl: unknown;
  /** An evidence bundle's finding about the receipt's proof line, over the verifier's. */
  inclusionClaim?: Claim | undefined;
  /** chain.seq, for an export's included_in_log. */
  seq?: number | undefined;
}

/** Bundle-level facts a receipt's verification cannot know, laid over its report. */
export function settleReceipt(
  report: ReceiptReport,
  context: ReceiptContext,
  facts: BundleFacts,
): ReceiptReport {
  const { claims } = report;
  if (context.chainClaim) claims.chain_linked = context.chainClaim;
  if (context.inclusionClaim) claims.included_in_log = context.inclusionClaim;
  else if (facts.chainProblems.length && claims.chain_linked.status === 'asserted')
    claims.chain_linked = refuted(`the chain around it is broken: ${facts.chainProblems[0]}`);
  if (facts.covering && !context.inclusionClaim)
    claims.included_in_log = exportInclusion(claims.chain_linked, context.seq, facts.covering);
  if (context.body?.problem) claims.body_matches = refuted(context.body.problem);
  else if (!context.body && facts.includeBodies)
    claims.body_matches = unknown(
      'no body in the bundle: issued with hashes only, or destroyed at the end of retention',
    );
  if (facts.anchorsFromBundle && claims.timestamp_valid.status === 'asserted')
    claims.timestamp_valid = {
      ...claims.timestamp_valid,
      source: 'operator_asserted',
      reason: `${claims.timestamp_valid.reason} (TSA roots from the bundle; pass --tsa-trust to pin your own)`,
    };
  const named =
    typeof context.snapshotUrl === 'string' ? periodOfSnapshotUrl(context.snapshotUrl) : undefined;
  if (
    named &&
    !facts.contents.has(snapshotPath(named)) &&
    claims.key_valid_at_issuance.status === 'asserted'
  )
    claims.key_valid_at_issuance = refuted(`the snapshot it names (${named}) is not in the bundle`);
  return report;
}

/**
 * included_in_log of an export's receipt (SPEC §10): its linked entry is a leaf of the tree
 * that a verified checkpoint's rootHash recomputes from log.json and chain.jsonl, which is
 * more than an inclusion proof (every audit path follows from those leaves).
 */
function exportInclusion(
  chainLinked: Claim,
  seq: number | undefined,
  covering: Pick<ChainRead, 'covering' | 'coveredAfter'>,
): Claim {
  if (seq === undefined || chainLinked.status !== 'asserted')
    return unknown('its chain entry is not established (chain_linked), so no checkpoint covers it');
  const checkpoint =
    seq > covering.coveredAfter ? covering.covering.find((c) => c >= seq) : undefined;
  if (checkpoint === undefined)
    return unknown(
      `no checkpoint of the bundle whose signature verifies and whose rootHash recomputes covers seq ${seq}; the newest receipts are covered by the chain links and the manifest signature only`,
    );
  return asserted(
    `its entry (seq ${seq}) is a leaf of the tree whose rootHash the checkpoint at seq ${checkpoint} signs, recomputed from log.json and chain.jsonl`,
  );
}

export interface ExportReceiptsRead {
  chainComplete: Claim;
  /** body_matches of the bundle, when it has bodies. */
  bodyMatches: Claim | undefined;
}

/** Reports held while the first pass over the chain runs, before the main thread waits for it. */
const HELD_REPORTS = 10_000;

/**
 * The receipts of an export (SPEC §9), each verified with its chain entry, the entry before
 * it, the checkpoints that prove its time and its disclosed bodies; with a second pass over
 * chain.jsonl beside receipts.jsonl (both in chain order). chain_complete: the chain links
 * (first pass), no entry of the range lacks its receipt, and the manifest's count holds.
 *
 * The first pass may still be running (`chain` pending): then receipts are verified already
 * and their reports held until the chain's problems are known, as each report's chain_linked
 * depends on them. Only a chain with proven checkpoint times must be read first (each
 * receipt's existedBy comes from them).
 */
export async function checkExportReceipts(input: {
  contents: BundleContents;
  manifest: ManifestView | undefined;
  chain: Promise<ChainRead> | ChainRead;
  /**
   * The range's first seq (the manifest's, else log.json's size + 1): chain entries from
   * there on need their receipt; the one before it is there only for the first link.
   */
  firstSeq?: number | null | undefined;
  facts: BundleFacts;
  runner: ReceiptRunner;
  tally: ReceiptTally;
  snapshotAuthentic: Claim;
  onReceiptRead?: ((receipt: Record<string, unknown>) => void) | undefined;
}): Promise<ExportReceiptsRead> {
  const { contents, manifest, tally, runner, facts } = input;
  let firstPass: ChainRead | undefined;
  let firstPassFailed = false;
  const held: (() => void)[] = [];
  const firstPassDone = Promise.resolve(input.chain).then(
    (read) => {
      firstPass = read;
      facts.chainProblems = read.problems.kept;
      facts.covering = read;
      for (const record of held.splice(0)) record();
      return read;
    },
    (error: unknown) => {
      firstPassFailed = true;
      throw error;
    },
  );
  firstPassDone.catch(() => {}); // awaited below; a failure also stops the loop at once
  const deliver = (record: () => void) => {
    if (firstPass) record();
    else held.push(record);
  };
  // The second pass over the chain (lines that are not entries were reported by the first).
  const chain = chainEntries(contents)[Symbol.asyncIterator]();
  let current: ChainEntry | undefined;
  let previous: ChainEntry | undefined;
  const firstSeq = input.firstSeq ?? 1;
  const filtered = Boolean(manifest?.range.orderId);
  let lastReceiptSeq = 0;
  const missing: number[] = [];
  /** Receipts whose seq has no entry in chain.jsonl. */
  const unchained: number[] = [];
  /**
   * Receipts of another merchant than the manifest's. Without a usable manifest nothing says
   * whose the chain is (manifest_valid is refuted already): a first receipt taken instead
   * made every genuine one after a tampered first line foreign (a review).
   */
  const foreign: string[] = [];
  const merchant = manifest?.merchantId;
  // An entry of the range passed over without its receipt is a missing receipt (unless the
  // export was filtered by order, when other orders' entries are there only for the links).
  const passOver = (entry: ChainEntry | undefined) => {
    if (entry && !filtered && entry.seq >= firstSeq && entry.seq > lastReceiptSeq)
      missing.push(entry.seq);
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
  const bodies = new BodyCursor(contents, seenIds);
  const unusable = unusableLines(FILES.receipts, 'receipts with their chain envelope');
  let stopped: string | undefined;
  for await (const line of contents.lines(FILES.receipts, LINE_BYTES.record)) {
    if (firstPassFailed || held.length > HELD_REPORTS) await firstPassDone;
    const read = readReceiptLine(line, input.snapshotAuthentic);
    // A bundle carries every receipt with its chain envelope.
    if (!read.ok || read.seq === undefined) {
      stopped = unusable();
      if (stopped) break;
    }
    if (!read.ok) {
      runner.pass(read.report, (report) => deliver(() => tally.record(report)));
      continue;
    }
    input.onReceiptRead?.(read.receipt);
    const { receipt, id, seq } = read;
    let chainClaim: Claim | undefined;
    if (seenIds.has(id)) chainClaim = refuted(`receipt ${id} appears twice`);
    if (read.ownId !== undefined) seenIds.add(id);
    if (!chainClaim && seq === undefined)
      chainClaim = refuted(
        'the receipt has no chain.seq: a bundle carries every receipt with its chain envelope',
      );
    if (!chainClaim && !((seq as number) > lastReceiptSeq))
      chainClaim = refuted(`receipts are not in chain order (seq ${seq} after ${lastReceiptSeq})`);
    const entry = chainClaim ? undefined : await advanceTo(seq as number);
    if (!chainClaim && !entry) {
      chainClaim = refuted(`chain.jsonl has no entry at seq ${seq}`);
      unchained.push(seq as number);
    } else if (
      !chainClaim &&
      entry &&
      (entry.receiptId !== id || entry.entryHash !== read.entryHash)
    )
      chainClaim = refuted(`chain entry at seq ${seq} is not this receipt's`);
    if (entry) lastReceiptSeq = seq as number;
    // A chain is one merchant's (SPEC §6), and an export holds its receipts (§9): another
    // merchant's receipt, signed by that merchant's valid key and linked in, was asserted.
    // Checked after its entry is taken, so that the entry is not also reported missing.
    if (!chainClaim && merchant !== undefined && receipt.merchantId !== merchant) {
      chainClaim = refuted(
        `the receipt is of merchant ${showValue(receipt.merchantId)}, in a chain of ${showValue(merchant)}: a chain is one merchant's`,
      );
      foreign.push(id);
    }
    const before = entry && previous && previous.seq === (seq as number) - 1 ? previous : undefined;
    // Proven times exist only when the first pass was awaited (see above).
    const proof = seq === undefined ? undefined : firstPass?.proofs.find((p) => p.seq >= seq);
    const body = read.ownId !== undefined ? await bodies.of(id) : undefined;
    await runner.submit(
      {
        receipt,
        receiptJson: read.text,
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
        deliver(() =>
          tally.record(
            settleReceipt(
              report,
              { chainClaim, body, snapshotUrl: receipt.jwksSnapshotUrl, seq },
              facts,
            ),
          ),
        ),
    );
    tally.progressEvery(1000);
  }
  await runner.finish();
  const chainRead = await firstPassDone;
  // Entries after the last receipt that should have had one.
  passOver(current);
  for (let next = await chain.next(); !next.done; next = await chain.next()) passOver(next.value);
  await bodies.finish();
  tally.progress();
  const problems = new ProblemList();
  const stated =
    !manifest || manifest.range.lastSeq !== undefined || manifest.range.firstSeq !== undefined;
  if (stopped) problems.stop(stopped);
  problems.append(chainRead.problems);
  const absent = [...new Set(missing)].sort((a, b) => a - b);
  if (absent.length) problems.push(`no receipt for chain entries at seq ${firstSeqs(absent)}`);
  if (unchained.length)
    problems.push(`${unchained.length} receipts have no chain entry (seq ${firstSeqs(unchained)})`);
  if (foreign.length)
    problems.push(
      `${foreign.length} receipts are of another merchant than ${showValue(merchant)} (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''})`,
    );
  if (manifest?.counts.receipts !== undefined && manifest.counts.receipts !== tally.receiptCount)
    problems.push(
      `manifest counts ${manifest.counts.receipts} receipts, receipts.jsonl has ${tally.receiptCount}`,
    );
  if (manifest) for (const problem of rangeProblems(manifest, chainRead)) problems.push(problem);
  return {
    chainComplete: problems.count
      ? refuted(problems.listed(5))
      : asserted(
          `${chainRead.count} chain entries link without gaps${manifest?.range.orderId ? '' : ' and every receipt of the range is present'}${stated ? '' : `; the manifest states no range: this is the bundle's own, from seq ${firstSeq} (after log.json) to ${chainRead.lastSeq ?? 'none'}`}`,
        ),
    bodyMatches:
      manifest?.includeBodies || contents.has(FILES.bodies) ? bodies.claim(manifest) : undefined,
  };
}

/**
 * chain.jsonl against the signed manifest: SPEC §9's entries of the range plus the one just
 * before it, so from max(1, firstSeq - 1) to lastSeq, and as many as the manifest counts.
 * Without it, a bundle cut short at its end (the last receipts, their entries and bodies
 * gone, under a manifest that still names the range) or without chain.jsonl at all asserted
 * chain_complete.
 */
function rangeProblems(manifest: ManifestView, chain: ChainRead): string[] {
  const problems: string[] = [];
  // Each end is held to chain.jsonl when the manifest states it; null ends: an empty range.
  const { firstSeq, lastSeq } = manifest.range;
  const start = typeof firstSeq === 'number' ? Math.max(1, firstSeq - 1) : undefined;
  const held = `chain.jsonl holds seq ${chain.firstSeq ?? 'none'} to ${chain.lastSeq ?? 'none'}`;
  if (firstSeq === null || lastSeq === null) {
    if ((firstSeq ?? null) !== (lastSeq ?? null))
      problems.push("the manifest's range has one end null and the other not");
    else if (chain.count > 0)
      problems.push(`the manifest's range is empty, chain.jsonl has ${chain.count} entries`);
  } else if (start !== undefined && lastSeq !== undefined) {
    if (chain.firstSeq !== start || chain.lastSeq !== lastSeq)
      problems.push(`${held}, the manifest's range needs ${start} to ${lastSeq}`);
  } else if (start !== undefined && chain.firstSeq !== start) {
    problems.push(`${held}, the manifest's range starts it at ${start}`);
  } else if (lastSeq !== undefined && chain.lastSeq !== lastSeq) {
    problems.push(`${held}, the manifest's range ends at ${lastSeq}`);
  }
  if (manifest.counts.chainEntries !== undefined && manifest.counts.chainEntries !== chain.count)
    problems.push(
      `manifest counts ${manifest.counts.chainEntries} chain entries, chain.jsonl has ${chain.count}`,
    );
  return problems;
}

/** The first ten seqs of a list, for a reason; "…" when there are more. */
const firstSeqs = (seqs: readonly number[]) =>
  `${seqs.slice(0, 10).join(', ')}${seqs.length > 10 ? ', …' : ''}`;

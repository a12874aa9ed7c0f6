import { asserted, type Claim, refuted, unknown } from '../claims';
import { BodyCursor } from './bodies';
import { type BundleContents, type Line, parseLine } from './contents';
import { canonicalOf, isJsonObject, ProblemList, showValue } from './json';
import { FILES } from './layout';
import { LINE_BYTES, unusableLines } from './limits';
import { type CursorItem, LineCursor } from './line-cursor';
import type { EvidenceManifestView } from './manifest';
import { type BundleFacts, readReceiptLine, settleReceipt } from './receipts';
import type { ReceiptRunner } from './runner';
import type { ReceiptTally } from './tally';

/** A proofs.jsonl line (order evidence): the proof as parsed, and its checkpoint's JCS. */
interface ProofItem extends CursorItem {
  proof?: unknown;
  /** JCS of the proof's checkpoint, to compare with the one of checkpoints.jsonl. */
  checkpoint?: string;
}

export interface EvidenceReceiptsRead {
  includedInLog: Claim;
  /** The order: the manifest's, else the first receipt's. */
  orderId: string | undefined;
  /** body_matches of the bundle, when it has bodies. */
  bodyMatches: Claim | undefined;
}

/**
 * The receipts of an order evidence bundle (SPEC §9.1), each verified with its proof from
 * proofs.jsonl (same order, one per receipt, all against the checkpoint of checkpoints.jsonl):
 * included_in_log per receipt, and for the bundle that every receipt has its proof, every
 * proof its receipt, and every receipt is of the manifest's order and merchant.
 */
export async function checkEvidenceReceipts(input: {
  contents: BundleContents;
  manifest: EvidenceManifestView | undefined;
  /** JCS of the checkpoint of checkpoints.jsonl, when it is well-formed. */
  checkpoint: string | undefined;
  facts: BundleFacts;
  runner: ReceiptRunner;
  tally: ReceiptTally;
  snapshotAuthentic: Claim;
  onReceiptRead?: ((receipt: Record<string, unknown>) => void) | undefined;
}): Promise<EvidenceReceiptsRead> {
  const { contents, manifest, tally, runner } = input;
  const problems = new ProblemList();
  const seenIds = new Set<string>();
  const bodies = new BodyCursor(contents, seenIds);
  const proofs = new LineCursor<ProofItem>(
    contents,
    FILES.proofs,
    LINE_BYTES.record,
    toProofItem,
    seenIds,
    '',
  );
  let lastSeq = 0;
  let order = manifest?.orderId;
  let previous: { seq: number; entryHash: string } | undefined;
  const unusable = unusableLines(FILES.receipts, 'receipts with an id');
  for await (const line of contents.lines(FILES.receipts, LINE_BYTES.record)) {
    const read = readReceiptLine(line, input.snapshotAuthentic);
    const stop = !read.ok || read.ownId === undefined ? unusable() : undefined;
    if (stop) {
      problems.stop(stop);
      break;
    }
    if (!read.ok) {
      runner.pass(read.report, (report) => tally.record(report));
      continue;
    }
    input.onReceiptRead?.(read.receipt);
    const { receipt, id, seq } = read;
    if (seenIds.has(id)) problems.push(`receipt ${id} appears twice`);
    if (read.ownId !== undefined) seenIds.add(id);
    if (seq !== undefined) {
      if (seq <= lastSeq)
        problems.push(`receipts are not in chain order (seq ${seq} after ${lastSeq})`);
      else lastSeq = seq;
    }
    if (manifest) {
      // One order per bundle: the manifest's, or (when it does not say) the first receipt's.
      order ??= typeof receipt.orderId === 'string' ? receipt.orderId : undefined;
      if (typeof receipt.orderId !== 'string' || receipt.orderId !== order)
        problems.push(
          `receipt ${id} is of order ${showValue(receipt.orderId)}, not ${order ?? "the bundle's"}`,
        );
      if (receipt.merchantId !== manifest.merchantId)
        problems.push(`receipt ${id} is of merchant ${showValue(receipt.merchantId)}`);
    }
    const proof = read.ownId !== undefined ? await proofs.of(id) : undefined;
    let inclusionClaim: Claim | undefined;
    if (!proof)
      inclusionClaim = refuted(
        'proofs.jsonl has no proof for it: an order evidence bundle carries one per receipt',
      );
    else if (proof.problem) inclusionClaim = refuted(`its proof ${proof.problem}`);
    else if (input.checkpoint !== undefined && proof.checkpoint !== input.checkpoint)
      inclusionClaim = refuted(
        "its proof is against another checkpoint than checkpoints.jsonl's (all proofs of the bundle are against that one)",
      );
    const before = seq !== undefined && previous && previous.seq === seq - 1 ? previous : undefined;
    const body = read.ownId !== undefined ? await bodies.of(id) : undefined;
    await runner.submit(
      {
        receipt,
        receiptJson: read.text,
        ...(before ? { previousEntry: before } : {}),
        ...(proof?.proof !== undefined && !inclusionClaim ? { proof: proof.proof } : {}),
        ...(body?.bodies ? { bodies: body.bodies } : {}),
      },
      (report) =>
        tally.record(
          settleReceipt(
            report,
            { body, snapshotUrl: receipt.jwksSnapshotUrl, inclusionClaim },
            input.facts,
          ),
        ),
    );
    previous =
      seq !== undefined && typeof read.entryHash === 'string'
        ? { seq, entryHash: read.entryHash }
        : undefined;
    tally.progressEvery(1000);
  }
  await runner.finish();
  await proofs.finish();
  await bodies.finish();
  tally.progress();
  // The counts first: they say the most, and the list of problems is cut after five.
  if (manifest?.counts.proofs !== undefined && manifest.counts.proofs !== proofs.matched)
    problems.unshift(
      `manifest counts ${manifest.counts.proofs} proofs, ${proofs.matched} lines of proofs.jsonl belong to a receipt`,
    );
  if (manifest?.counts.receipts !== undefined && manifest.counts.receipts !== tally.receiptCount)
    problems.unshift(
      `manifest counts ${manifest.counts.receipts} receipts, receipts.jsonl has ${tally.receiptCount}`,
    );
  problems.append(proofs.problems);
  const counts = tally.counts.included_in_log ?? { asserted: 0, refuted: 0, unknown: 0 };
  const ofOrder = order === undefined ? 'the order' : `order ${order}`;
  const at = manifest?.checkpoint
    ? ` whose rootHash the checkpoint at seq ${manifest.checkpoint.seq} signs`
    : '';
  const total = tally.receiptCount;
  if (total === 0) problems.push('the bundle has no receipt');
  return {
    orderId: order,
    includedInLog: problems.count
      ? refuted(problems.listed(5))
      : counts.refuted
        ? refuted(
            `${counts.refuted} of ${total} receipts of ${ofOrder} are not proven in the log (see the receipts)`,
          )
        : counts.unknown
          ? unknown(
              `${counts.unknown} of ${total} receipts of ${ofOrder} are not proven in the log (see the receipts)`,
            )
          : asserted(
              `each of the ${total} receipts of ${ofOrder} has its proof: a leaf of the log tree${at}`,
            ),
    bodyMatches:
      manifest?.includeBodies || contents.has(FILES.bodies) ? bodies.claim(manifest) : undefined,
  };
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

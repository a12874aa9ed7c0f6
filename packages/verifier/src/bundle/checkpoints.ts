import { summarize, validateCheckpoint } from '@quittance/format';
import { asserted, type Claim, refuted, unknown } from '../claims';
import type { KeyHistory } from '../key-history';
import { type CheckpointReport, verifyCheckpoint } from '../verify-checkpoint';
import { type BundleContents, parseLine } from './contents';
import { canonicalOf, listed, messageOf, showValue } from './json';
import { FILES } from './layout';
import { LINE_BYTES } from './limits';
import type { EvidenceManifestView } from './manifest';
import type { TsaAnchors } from './tsa';

/** A time by which a verified, timestamped checkpoint proves the log up to `seq` existed. */
export interface CheckpointProof {
  seq: number;
  time: string;
}

export interface CheckpointsRead {
  /** checkpoints_valid. */
  claim: Claim;
  /** seq and rootHash of every well-formed checkpoint: log_consistent recomputes them. */
  roots: { seq: number; rootHash: string }[];
  /** seq → entryHash of every checkpoint that verifies: the chain must hold those entries. */
  entries: Map<number, string>;
  /**
   * `seq:rootHash` of the merchant's checkpoints whose signature verifies with a key valid at
   * their createdAt (SPEC §10): an export's receipts under one whose rootHash recomputes are
   * in the log. Keyed with the root: a copy at the same seq with another root proves nothing.
   */
  verified: Set<string>;
  /** Proven times, from checkpoints whose timestamps chain to roots the auditor pinned. */
  proofs: CheckpointProof[];
  /** JCS of an order evidence bundle's checkpoint, when well-formed: its proofs are against it. */
  evidenceCheckpoint: string | undefined;
}

/**
 * checkpoints_valid: every checkpoint of checkpoints.jsonl is well-formed (rootHash included),
 * signed by a key of the merchant valid at its createdAt, and its timestamp verifies when it
 * has one. One whose signature or key validity is itself unknown makes the claim unknown. An
 * order evidence bundle (`evidence` given, or undefined when its manifest is unusable) holds
 * exactly one checkpoint: the one its manifest names.
 */
export async function checkCheckpoints(
  contents: BundleContents,
  history: KeyHistory,
  anchors: TsaAnchors,
  evidence: { manifest: EvidenceManifestView | undefined } | undefined,
  /** An export's merchant, as its manifest says: another merchant's checkpoint is refuted. */
  merchantId?: string | undefined,
): Promise<CheckpointsRead> {
  const read: CheckpointsRead = {
    claim: unknown('the bundle has no checkpoint'),
    roots: [],
    entries: new Map(),
    verified: new Set(),
    proofs: [],
    evidenceCheckpoint: undefined,
  };
  const problems: string[] = [];
  const doubts: string[] = [];
  let count = 0;
  let described = '';
  for await (const line of contents.lines(FILES.checkpoints, LINE_BYTES.record)) {
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
    read.roots.push({ seq: checkpoint.seq, rootHash: checkpoint.rootHash });
    const merchant = evidence ? evidence.manifest?.merchantId : merchantId;
    const foreign = merchant !== undefined && checkpoint.merchantId !== merchant;
    if (foreign && !evidence) {
      problems.push(`${at} is a checkpoint of merchant ${showValue(checkpoint.merchantId)}`);
      continue;
    }
    if (evidence) {
      read.evidenceCheckpoint = canonicalOf(parsed.value);
      const named = evidence.manifest?.checkpoint;
      if (named && (named.seq !== checkpoint.seq || named.rootHash !== checkpoint.rootHash))
        problems.push(
          `the manifest names the checkpoint at seq ${named.seq}, checkpoints.jsonl holds seq ${checkpoint.seq} with another rootHash`,
        );
      if (foreign)
        problems.push(`the checkpoint is of merchant ${showValue(checkpoint.merchantId)}`);
    }
    let report: CheckpointReport;
    try {
      // Only TSA roots the auditor pinned make a timestamp prove a time (see TsaAnchors): with
      // the bundle's own, a checkpoint of a key revoked later is as unproven as one without.
      report = await verifyCheckpoint(checkpoint, history, {
        tsaTrustAnchors: anchors.certs,
        timestampProvesTime: !anchors.fromBundle,
      });
    } catch (error) {
      problems.push(`${at} cannot be checked: ${messageOf(error)}`);
      continue;
    }
    // A snapshot that is not the publisher's is the bundle's own claim (snapshot_authentic),
    // and proves nothing about a checkpoint's key either way: unknown, as for receipts.
    const bad = Object.entries(report.claims).filter(
      ([name, c]) =>
        c.status === 'refuted' && name !== 'chain_linked' && name !== 'snapshot_authentic',
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
    read.entries.set(report.seq, checkpoint.entryHash);
    if (
      signature.status === 'asserted' &&
      key.status === 'asserted' &&
      merchant !== undefined &&
      !foreign
    )
      read.verified.add(`${report.seq}:${checkpoint.rootHash}`);
    if (report.provenAt && signature.status === 'asserted')
      read.proofs.push({ seq: report.seq, time: report.provenAt });
  }
  if (evidence && count === 0)
    problems.push('the bundle has no checkpoint: its proofs are against nothing');
  read.claim = problems.length
    ? refuted(listed(problems, 5))
    : doubts.length
      ? unknown(listed(doubts, 5))
      : evidence
        ? asserted(described)
        : count
          ? asserted(`${count} checkpoints verify, each with a well-formed rootHash`)
          : unknown('the bundle has no checkpoint');
  return read;
}

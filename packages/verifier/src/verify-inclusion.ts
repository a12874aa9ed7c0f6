import {
  type ChainLink,
  chainLinkProblems,
  type InclusionProof,
  receiptChainEntry,
  summarize,
  validateInclusionProof,
  verifyInclusion,
} from '@quittance/format';
import { asserted, type Claim, refuted, unknown } from './claims';
import type { KeyHistory } from './key-history';
import { type CheckpointReport, verifyCheckpoint } from './verify-checkpoint';

/** What of the receipt the leaf is computed from; undefined members make the claim unknown. */
export interface InclusionSubject {
  id: string;
  merchantId: unknown;
  /** The receipt's `chain`, when present and well-formed. */
  chain: ChainLink | undefined;
  /** Why `chain` is unusable (absent or malformed), when it is. */
  chainProblem?: string;
  /** The attached compact JWS the chain entry hashes, when it can be rebuilt. */
  attachedJws: string | undefined;
}

export interface InclusionResult {
  claim: Claim;
  /** A time the verified checkpoint proves the receipt existed by (its trusted timestamp). */
  existedBy?: { time: string; evidence: string };
}

export interface InclusionOptions {
  tsaTrustAnchors?: Uint8Array[];
  /** False when the TSA roots came from whoever produced the evidence: no time is proven. */
  timestampProvesExistence?: boolean;
}

/**
 * included_in_log (SPEC §6.1, §10). Asserted only when all of these hold:
 * - the proof is well-formed and names this receipt (`receiptId`) and its chain `seq`;
 * - the leaf, this receipt's `entryHash`, recomputes from the receipt itself: seq, prevHash,
 *   id and the hash of the rebuilt attached JWS (SPEC §6). The `chain.entryHash` a receipt
 *   carries is its envelope's word: a leaf taken from it unchecked would let anyone attach
 *   another receipt's place in the log;
 * - the audit path takes that leaf (index seq − 1) to the checkpoint's `rootHash` in the tree
 *   of `treeSize` = `checkpoint.seq` entries;
 * - the checkpoint is the same merchant's, its signature verifies, and its key was valid at
 *   its `createdAt` per the key history.
 * Refuted when one of them fails; unknown without a proof, or while the leaf cannot be
 * computed (no or malformed `chain`, no `jws`) or the checkpoint's key validity is itself
 * unknown (a revoked key without a timestamp proving the checkpoint predates it).
 */
export async function checkInclusion(
  subject: InclusionSubject,
  given: unknown,
  history: KeyHistory,
  options: InclusionOptions = {},
): Promise<InclusionResult> {
  if (given === undefined) return { claim: unknown('no inclusion proof was given') };
  const validation = validateInclusionProof(given);
  if (!validation.ok)
    return { claim: refuted(`inclusion proof is malformed: ${summarize(validation.issues)}`) };
  const proof: InclusionProof = validation.value;
  const { checkpoint } = proof;
  if (proof.receiptId !== subject.id) {
    return {
      claim: refuted(
        `the inclusion proof is of receipt ${proof.receiptId}, not ${subject.id}: it proves nothing about this one`,
      ),
    };
  }
  if (checkpoint.merchantId !== subject.merchantId) {
    return {
      claim: refuted(
        `the proof's checkpoint is of merchant ${checkpoint.merchantId}, not ${String(subject.merchantId)}`,
      ),
    };
  }
  if (!subject.chain)
    return { claim: unknown(`${subject.chainProblem ?? 'no chain'}: the leaf cannot be computed`) };
  if (subject.attachedJws === undefined) {
    return {
      claim: unknown(
        'the leaf hashes the attached JWS, which cannot be rebuilt without a well-formed jws and signed members',
      ),
    };
  }
  const { seq } = subject.chain;
  if (proof.seq !== seq)
    return {
      claim: refuted(`the proof places the receipt at seq ${proof.seq}, its chain says ${seq}`),
    };
  const entry = await receiptChainEntry(subject.id, subject.chain, subject.attachedJws);
  if ((await chainLinkProblems(entry)).includes('entry_hash')) {
    return {
      claim: refuted(
        `chain entryHash does not recompute from seq ${seq}, prevHash and this receipt, so no leaf of the log is known to be this receipt`,
      ),
    };
  }
  // The leaf is this receipt's entryHash, which recomputes from the receipt itself.
  const leaf = entry.entryHash;
  if (seq === checkpoint.seq && checkpoint.entryHash !== leaf) {
    return {
      claim: refuted(`checkpoint ${checkpoint.seq} names another entry at this receipt's seq`),
    };
  }
  let report: CheckpointReport;
  try {
    report = await verifyCheckpoint(checkpoint, history, {
      ...(options.timestampProvesExistence !== false && options.tsaTrustAnchors
        ? { tsaTrustAnchors: options.tsaTrustAnchors }
        : {}),
    });
  } catch (error) {
    return {
      claim: unknown(`the proof's checkpoint could not be checked: ${(error as Error).message}`),
    };
  }
  const { signature_valid: signature, key_valid_at_issuance: key } = report.claims;
  const at = `checkpoint ${checkpoint.seq} (${checkpoint.createdAt})`;
  if (signature.status === 'refuted')
    return { claim: refuted(`${at} signature: ${signature.reason}`) };
  const path = await verifyInclusion({
    entryHash: leaf,
    seq,
    treeSize: proof.treeSize,
    auditPath: proof.auditPath,
    rootHash: checkpoint.rootHash,
  });
  if (!path.ok) return { claim: refuted(`${path.reason} of ${at}`) };
  if (key.status === 'refuted') return { claim: refuted(`${at} key: ${key.reason}`) };
  if (signature.status !== 'asserted' || key.status !== 'asserted') {
    const why = signature.status !== 'asserted' ? signature.reason : key.reason;
    return {
      claim: unknown(`the audit path recomputes the rootHash of ${at}, but ${why}`),
    };
  }
  const timestamp = report.claims.timestamp_valid;
  const note =
    timestamp.status === 'refuted' ? `; its timestamp proves no time: ${timestamp.reason}` : '';
  const claim = asserted(
    `entry ${seq} is leaf ${seq - 1} of the tree of ${proof.treeSize} whose rootHash ${at} signs with ${checkpoint.signingKeyKid}${note}`,
    key.source,
  );
  return report.provenAt && options.timestampProvesExistence !== false
    ? {
        claim,
        existedBy: {
          time: report.provenAt,
          evidence: `checkpoint ${checkpoint.seq}, which includes it, timestamped at ${report.provenAt}`,
        },
      }
    : { claim };
}

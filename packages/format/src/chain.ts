import { asciiBytes } from './encoding';
import { sha256Hex } from './hash';
import { type ChainEntryInput, entryHash, GENESIS_HASH } from './receipt';
import type { ChainLink } from './types';

// The audit log's link rule (SPEC §6), written once for every path that checks a chain: the
// service's chain check, and the verifier's receipts, inclusion proofs and bundles.

/** What can be wrong with one link of the chain. */
export type ChainLinkProblem =
  /** entryHash does not recompute from seq, prevHash, receiptId and receiptHash. */
  | 'entry_hash'
  /** Entry 1 does not start from the genesis hash. */
  | 'genesis'
  /** The entry does not follow the one before it (seq is not previous + 1). */
  | 'gap'
  /** prevHash is not the entryHash of the entry before it. */
  | 'prev_hash';

/**
 * Checks one chain entry: its entryHash recomputes, entry 1 starts from the genesis hash, and,
 * given the entry before it, seq follows on and prevHash is that entry's entryHash. Every
 * problem found, in that order; none when the link holds.
 */
export async function chainLinkProblems(
  entry: ChainEntryInput & { entryHash: string },
  previous?: { seq: number; entryHash: string },
): Promise<ChainLinkProblem[]> {
  const problems: ChainLinkProblem[] = [];
  let recomputed: string | undefined;
  try {
    recomputed = await entryHash(entry);
  } catch {
    recomputed = undefined; // members that have no canonical form recompute to nothing
  }
  if (recomputed !== entry.entryHash) problems.push('entry_hash');
  if (entry.seq === 1 && entry.prevHash !== GENESIS_HASH) problems.push('genesis');
  if (previous) {
    if (entry.seq !== previous.seq + 1) problems.push('gap');
    if (entry.prevHash !== previous.entryHash) problems.push('prev_hash');
  }
  return problems;
}

/**
 * The chain entry a receipt claims (its `chain` member), with the receiptHash recomputed from
 * the receipt itself: SHA-256 of its attached compact JWS (SPEC §6), never taken on its word.
 */
export async function receiptChainEntry(
  receiptId: string,
  chain: ChainLink,
  attachedJws: string,
): Promise<ChainEntryInput & { entryHash: string }> {
  return {
    seq: chain.seq,
    prevHash: chain.prevHash,
    receiptId,
    receiptHash: await sha256Hex(asciiBytes(attachedJws)),
    entryHash: chain.entryHash,
  };
}

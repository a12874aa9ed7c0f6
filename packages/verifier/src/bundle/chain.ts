import { type ChainLinkProblem, chainLinkProblems, HASH_PATTERN } from '@quittance/format';
import type { Claim } from '../claims';
import type { CheckpointProof, CheckpointsRead } from './checkpoints';
import { type BundleContents, parseLine } from './contents';
import { isJsonObject, isSeq, ProblemList, showValue } from './json';
import { type ChainEntry, FILES } from './layout';
import { LINE_BYTES, unusableLines } from './limits';
import { type LogRead, LogReplay, logConsistentClaim } from './log';

export interface ChainRead {
  /** What is wrong with chain.jsonl: chain_complete's problems, and each receipt's link. */
  problems: ProblemList;
  /** Chain entries read. */
  count: number;
  /** The lowest and highest seq among them (undefined when there is none). */
  firstSeq: number | undefined;
  lastSeq: number | undefined;
  /**
   * Proven times of the checkpoints that name an entry of this chain, by seq, each the
   * earliest proven for the log up to it (a later checkpoint's time covers earlier entries).
   */
  proofs: CheckpointProof[];
  /** log_consistent. */
  logConsistent: Claim;
  /**
   * seqs, ascending, of the verified checkpoints (CheckpointsRead.verified) whose entry is in
   * this chain and whose rootHash recomputes from log.json and it: every entry up to one of
   * them, after log.json's size (`coveredAfter`), is in the log that checkpoint signs
   * (included_in_log of an export's receipts).
   */
  covering: number[];
  coveredAfter: number;
}

/**
 * The chain entries of chain.jsonl; a line that is not one is reported to `onProblem`, and
 * past {@link MAX_UNUSABLE_LINES} of them the rest of the file is not read (both passes over
 * the file stop at the same line).
 */
export async function* chainEntries(
  contents: BundleContents,
  onProblem?: (problem: string, stopped?: boolean) => void,
): AsyncGenerator<ChainEntry> {
  const unusable = unusableLines(FILES.chain, 'chain entries');
  for await (const line of contents.lines(FILES.chain, LINE_BYTES.record)) {
    const parsed = parseLine(line);
    const problem = parsed.ok ? chainEntryProblem(parsed.value) : parsed.problem;
    if (!problem && parsed.ok) {
      yield parsed.value as ChainEntry;
      continue;
    }
    const stop = unusable();
    if (stop) {
      onProblem?.(stop, true);
      return;
    }
    onProblem?.(`chain.jsonl line ${line.n} ${problem}`);
  }
}

const LINK_PROBLEMS: Record<
  ChainLinkProblem,
  (entry: ChainEntry, previous: ChainEntry | undefined) => string
> = {
  entry_hash: (entry) => `chain entry seq ${entry.seq}: entryHash does not recompute`,
  genesis: () => 'chain entry 1 does not start from the genesis hash',
  gap: (entry, previous) => `chain jumps from seq ${previous?.seq} to ${entry.seq}`,
  prev_hash: (entry, previous) =>
    `chain entry seq ${entry.seq}: prevHash does not link to seq ${previous?.seq}`,
};

/**
 * The first pass over chain.jsonl: every link (SPEC §6), the checkpoints against the entries
 * they name, and the checkpoints' rootHash recomputed from log.json's frontier and the chain
 * (log_consistent). `firstSeq` is the range's first seq, as the manifest says.
 */
export async function checkChain(
  contents: BundleContents,
  checkpoints: CheckpointsRead,
  log: LogRead,
  firstSeq: number | null | undefined,
): Promise<ChainRead> {
  const problems = new ProblemList();
  let previous: ChainEntry | undefined;
  let count = 0;
  const unmatched = new Map(checkpoints.entries);
  const misnamed = new Set<number>();
  let proofs = [...checkpoints.proofs];
  const replay = log.ok
    ? new LogReplay(log, new Set(checkpoints.roots.map((c) => c.seq)))
    : undefined;
  await replay?.start();
  let firstChainSeq: number | undefined;
  let lastChainSeq: number | undefined;
  const onProblem = (problem: string, stopped?: boolean) =>
    stopped ? problems.stop(problem) : problems.push(problem);
  for await (const entry of chainEntries(contents, onProblem)) {
    count++;
    await replay?.add(entry);
    firstChainSeq = Math.min(firstChainSeq ?? entry.seq, entry.seq);
    lastChainSeq = Math.max(lastChainSeq ?? 0, entry.seq);
    for (const problem of await chainLinkProblems(entry, previous))
      problems.push(LINK_PROBLEMS[problem](entry, previous));
    const named = unmatched.get(entry.seq);
    if (named !== undefined) {
      unmatched.delete(entry.seq);
      if (named !== entry.entryHash) {
        problems.push(`checkpoint at seq ${entry.seq} names another entryHash`);
        misnamed.add(entry.seq);
        proofs = proofs.filter((p) => p.seq !== entry.seq);
      }
    }
    previous = entry;
  }
  // A checkpoint beyond the exported range proves nothing here.
  proofs = proofs.filter((p) => !unmatched.has(p.seq)).sort((a, b) => a.seq - b.seq);
  for (let i = proofs.length - 2; i >= 0; i--) {
    const here = proofs[i] as CheckpointProof;
    const next = proofs[i + 1] as CheckpointProof;
    if (Date.parse(next.time) < Date.parse(here.time)) proofs[i] = { ...here, time: next.time };
  }
  await replay?.finish();
  const covering = checkpoints.roots
    .filter(
      ({ seq, rootHash }) =>
        checkpoints.verified.has(`${seq}:${rootHash}`) &&
        !unmatched.has(seq) &&
        !misnamed.has(seq) &&
        replay?.roots.get(seq) === rootHash,
    )
    .map(({ seq }) => seq)
    .sort((a, b) => a - b);
  return {
    covering,
    coveredAfter: log.ok ? log.size : Number.POSITIVE_INFINITY,
    problems,
    count,
    firstSeq: firstChainSeq,
    lastSeq: lastChainSeq,
    proofs,
    logConsistent: logConsistentClaim({
      log,
      replay,
      roots: checkpoints.roots,
      firstSeq,
      lastChainSeq,
    }),
  };
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

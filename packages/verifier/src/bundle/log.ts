import {
  appendToFrontier,
  HASH_PATTERN,
  merkleLeafHash,
  popcount,
  rootFromFrontier,
} from '@quittance/format';
import { asserted, type Claim, refuted, unknown } from '../claims';
import type { BundleContents } from './contents';
import { isCount, isJsonObject, listed, messageOf, parseJson } from './json';
import { type ChainEntry, FILES, type LogFrontier } from './layout';
import { formatBytes, WHOLE_FILE_BYTES } from './limits';

/** log.json, or why it cannot be used. */
export type LogRead = ({ ok: true } & LogFrontier) | { ok: false; problem: string };

/** log.json (SPEC §9), parsed and checked for shape: one frontier hash per set bit of size. */
export async function readLog(contents: BundleContents): Promise<LogRead> {
  const fail = (problem: string): LogRead => ({ ok: false, problem });
  if (!contents.has(FILES.log)) return fail('log.json is missing');
  const text = await contents.text(FILES.log, WHOLE_FILE_BYTES.log);
  if (text === undefined)
    return fail(`log.json is larger than ${formatBytes(WHOLE_FILE_BYTES.log)}`);
  const parsed = parseJson(text);
  if (!parsed.ok) return fail(`log.json ${parsed.problem}`);
  const value = parsed.value;
  if (!isJsonObject(value) || !isCount(value.size) || !Array.isArray(value.frontier))
    return fail('log.json is not {"size": a non-negative integer, "frontier": [hex, …]}');
  const frontier = value.frontier as unknown[];
  if (!frontier.every((h) => typeof h === 'string' && HASH_PATTERN.test(h)))
    return fail("log.json's frontier holds something other than 64 lowercase hex hashes");
  const size = value.size;
  if (frontier.length !== popcount(size))
    return fail(
      `log.json's frontier has ${frontier.length} hashes; a tree of ${size} entries has ${popcount(size)} (one per set bit of its size)`,
    );
  return { ok: true, size, frontier: frontier as string[] };
}

/** Entries appended to the frontier at once (memory stays flat between checkpoints). */
const REPLAY_BATCH = 4096;

/**
 * The log tree replayed from log.json's frontier over chain.jsonl (SPEC §6.1, §9): the root at
 * each seq in `targets`. chain.jsonl starts with the entry just before the range (seq = size),
 * or at seq 1 when size is 0; entries then follow without gaps. Where they do not, the roots
 * after that point are not recomputed and `broken` says why.
 */
export class LogReplay {
  readonly problems: string[] = [];
  /** seq → recomputed rootHash, for the seqs asked for. */
  readonly roots = new Map<number, string>();
  broken: string | undefined;
  #frontier: string[];
  #size: number;
  #pending: string[] = [];
  #first = true;
  /** The last seq a root is asked for: entries after it change no root (nothing to replay). */
  readonly #last: number;
  #past = false;

  constructor(
    log: LogFrontier,
    private readonly targets: ReadonlySet<number>,
  ) {
    this.#frontier = log.frontier;
    this.#size = log.size;
    let last = 0;
    for (const seq of targets) last = Math.max(last, seq);
    this.#last = last;
  }

  async start() {
    if (this.#size > 0 && this.targets.has(this.#size))
      this.roots.set(this.#size, await rootFromFrontier(this.#frontier));
  }

  async add(entry: ChainEntry) {
    if (this.broken || this.#past) return;
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
    if (entry.seq > this.#last) {
      this.#past = true;
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
 * log_consistent (SPEC §10): every checkpoint whose seq lies in the bundle's chain (from
 * log.json's size to the last chain entry) has its rootHash recomputed from log.json's
 * frontier and the chain entries up to its seq; those outside cannot be, and are named.
 */
export function logConsistentClaim(input: {
  log: LogRead;
  replay: LogReplay | undefined;
  /** The checkpoints' seq and rootHash. */
  roots: readonly { seq: number; rootHash: string }[];
  /** The manifest's range.firstSeq, when it has one. */
  firstSeq: number | null | undefined;
  lastChainSeq: number | undefined;
}): Claim {
  const { log, replay, lastChainSeq } = input;
  if (!log.ok || !replay) return refuted(log.ok ? 'log.json is unusable' : log.problem);
  const { size } = log;
  const problems = [...replay.problems];
  if (typeof input.firstSeq === 'number' && size + 1 !== input.firstSeq)
    problems.push(
      `log.json's size ${size} is not the size of the log before the range's first entry (seq ${input.firstSeq})`,
    );
  let recomputed = 0;
  const outside: number[] = [];
  for (const { seq, rootHash } of input.roots) {
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

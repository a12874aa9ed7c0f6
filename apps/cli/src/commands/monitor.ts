import { rename, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  type Checkpoint,
  MAX_TIMER_MS,
  periodOf,
  snapshotUrlPath,
  verifyConsistency,
} from '@quittance/format';
import {
  type KeyHistory,
  loadKeyHistory,
  type PublisherKeys,
  verifyCheckpoint,
} from '@quittance/verifier';
import { jsonOf, printable, request, ServerUnreadable } from '../http';
import { MiB, readPublisher, readText, readTsaTrust, UnreadableInput } from '../inputs';
import { UsageError, wholeNumber } from '../usage';

/** What the monitor keeps between runs: the newest checkpoint it verified. */
interface MonitorState {
  url: string;
  checkpoint: Checkpoint;
}

interface MonitorReport {
  ok: boolean;
  url: string;
  merchantId: string | null;
  /**
   * Checkpoints newer than the state checked in this round: signed by a valid key, or vouched
   * for (see `vouched`).
   */
  checked: number;
  newest: { seq: number; rootHash: string; createdAt: string } | null;
  failures: string[];
  /**
   * Checkpoints newer than `newest` whose signing key is not proven valid (see judge): no
   * failure, but not recorded until a later checkpoint signed by a valid key is proven to
   * extend them.
   */
  pending: string[];
  /** Unproven checkpoints that a newer proven checkpoint was shown to extend (no failure). */
  vouched: string[];
}

const API = '/api/v1/trust';

/** `quittance monitor` (SPEC §12). */
export async function monitorCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv);
  for (const name of ['url', 'key', 'publisher', 'state'] as const)
    if (!values[name]) throw new UsageError(`monitor needs --${name}`);
  const url = (values.url as string).replace(/\/+$/, '');
  const interval = intervalMs(values['interval-s']);
  for (;;) {
    let code: number;
    try {
      const report = await monitorOnce({
        url,
        key: values.key as string,
        publisher: await readPublisher(values.publisher as string),
        statePath: values.state as string,
        tsaTrustAnchors: values['tsa-trust'] ? await readTsaTrust(values['tsa-trust']) : undefined,
      });
      process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : render(report));
      code = report.ok ? 0 : 1;
    } catch (error) {
      // Whatever stopped the round (an input or the server unreadable, or a fault of this
      // code), it is no verdict on the log: exit 2, and a watch tries again.
      const message = (error as Error).message ?? String(error);
      process.stderr.write(`quittance monitor: ${printable(message, 1_000)}\n`);
      code = 2;
    }
    // A failed check ends the watch (someone must look); an unreachable server is retried.
    if (values.once || code === 1) return code;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** The longest wait a timer takes (2^31 - 1 ms), in whole seconds: about 24 days. */
const MAX_INTERVAL_S = Math.floor(MAX_TIMER_MS / 1000);

/** --interval-s: whole seconds from 1 to MAX_INTERVAL_S (60 when not given). */
function intervalMs(value: string | undefined): number {
  return wholeNumber('--interval-s', value, { min: 1, max: MAX_INTERVAL_S, fallback: 60 }) * 1000;
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: {
        url: { type: 'string' },
        key: { type: 'string' },
        publisher: { type: 'string' },
        state: { type: 'string' },
        'tsa-trust': { type: 'string' },
        'interval-s': { type: 'string' },
        once: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Every request of one round together: a server that trickles its pages cannot hold it. */
const ROUND_MS = 10 * 60_000;
/** Pages of 500 checkpoints one round reads at most: half a million checkpoints. */
const MAX_PAGES = 1_000;

/**
 * One round: fetch the checkpoints newer than the state, verify each one's signature against
 * the published key history, prove each consistent with the newest, and the newest with the
 * state's; record the newest only when all of that holds. An answer that is not what the API
 * answers is "cannot read" (exit 2); a checkpoint that does not verify, a fork, a rewrite or a
 * rollback is a failure (exit 1).
 */
export async function monitorOnce(options: {
  url: string;
  key: string;
  publisher: PublisherKeys;
  statePath: string;
  tsaTrustAnchors?: Uint8Array[] | undefined;
}): Promise<MonitorReport> {
  const { url, key, publisher, statePath } = options;
  const state = await readState(statePath);
  if (state && state.url !== url)
    throw new UnreadableInput(`${statePath} is the state of ${state.url}, not of ${url}`);
  const round = AbortSignal.timeout(ROUND_MS);
  const get = async (path: string) => {
    const answer = await request(`${url}${path}`, {
      headers: { authorization: `Bearer ${key}` },
      signal: round,
    }).catch((error: unknown) => {
      if (!round.aborted) throw error;
      throw new ServerUnreadable(
        `the round did not finish within ${ROUND_MS / 60_000} minutes (waiting for ${url}${path})`,
      );
    });
    if (!answer.ok)
      throw new ServerUnreadable(
        `${url}${path} answered ${answer.status}: ${printable(answer.text)}`,
        answer.status,
      );
    return jsonOf(`${url}${path}`, answer);
  };
  const { fresh, top } = await newerCheckpoints(get, state?.checkpoint.seq ?? 0);
  // Whose log this is: the state's merchant, else the newest checkpoint's. A key that reads
  // another merchant's log is the wrong input for this state, not a verdict on either log.
  const merchant = state?.checkpoint.merchantId ?? (top?.merchantId as string | undefined);
  if (state && top && typeof top.merchantId === 'string' && top.merchantId !== merchant)
    throw new UnreadableInput(
      `${statePath} is the state of merchant ${printable(merchant ?? '')}'s log, but this key reads the log of ${printable(top.merchantId)}`,
    );
  const report: MonitorReport = {
    ok: true,
    url,
    merchantId: state?.checkpoint.merchantId ?? null,
    checked: 0,
    newest: null,
    failures: [],
    pending: [],
    vouched: [],
  };
  const fail = (message: string) => {
    report.ok = false;
    report.failures.push(message);
  };
  const view = (c: Checkpoint) => ({ seq: c.seq, rootHash: c.rootHash, createdAt: c.createdAt });
  report.newest = state ? view(state.checkpoint) : null;

  const histories = new Map<string, Promise<KeyHistory>>();
  const historyFor = (checkpoint: Checkpoint) => {
    const period = periodOf(checkpoint.createdAt);
    let history = histories.get(period);
    if (!history) {
      history = keyHistoryOf(period);
      histories.set(period, history);
    }
    return history;
  };
  const keyHistoryOf = async (period: string) =>
    monthKeyHistory(period, await get(snapshotUrlPath(period)), publisher);
  /**
   * What is wrong with a checkpoint the server lists: nothing when it verifies. A signature
   * that verifies by the merchant's published key whose validity is not proven (revoked
   * since, with no timestamp from before: unknown; or revoked as of a time before it, dated
   * back to a compromise: refuted) is `unproven`: a later checkpoint by a valid key that
   * extends it vouches for its root, as the consistency proof binds the one to the other.
   */
  const judge = async (
    item: Record<string, unknown>,
    name: string,
  ): Promise<{ problems: string[]; unproven?: string }> => {
    const shape = malformed(item);
    if (shape) return { problems: [`${name} is not a checkpoint: ${shape}`] };
    const checkpoint = item as unknown as Checkpoint;
    if (checkpoint.merchantId !== merchant)
      return {
        problems: [
          `${name} is of merchant ${printable(checkpoint.merchantId)}, in the log of ${printable(merchant ?? '')}`,
        ],
      };
    const history = await historyFor(checkpoint);
    const verdict = await verifyCheckpoint(checkpoint, history, {
      publisher,
      tsaTrustAnchors: options.tsaTrustAnchors,
    });
    const problems = (['snapshot_authentic', 'signature_valid', 'key_valid_at_issuance'] as const)
      .filter((claim) => verdict.claims[claim].status !== 'asserted')
      .map((claim) => {
        const c = verdict.claims[claim];
        return `${name}: ${claim} ${c.status}: ${printable(c.reason)}`;
      });
    // Only a key whose validity is unknown, or refuted by a revocation as of a time before
    // the checkpoint (dated back to a compromise), may wait to be vouched for; another
    // merchant's key, or one past its exp or before its nbf, is a failure now.
    const key = verdict.claims.key_valid_at_issuance.status;
    if (
      problems.length === 1 &&
      (key === 'unknown' || (key === 'refuted' && revokedAsOf(checkpoint, history)))
    )
      return { problems: [], unproven: problems[0] as string };
    return { problems };
  };
  const problemsOf = async (item: Record<string, unknown>, name: string) => {
    const { problems, unproven } = await judge(item, name);
    return unproven ? [unproven] : problems;
  };

  if (state) {
    // The newest the server lists may not be older than the recorded one, nor another at its seq.
    const recorded = state.checkpoint;
    if (!top || (top.seq as number) < recorded.seq) {
      fail(
        `rollback: the newest checkpoint is ${top ? `seq ${top.seq}` : 'none'}, but seq ${recorded.seq} was verified before`,
      );
    } else if (top.seq === recorded.seq && top.rootHash !== recorded.rootHash) {
      const problems = await problemsOf(top, `checkpoint seq ${top.seq}`);
      if (problems.length > 0) problems.forEach(fail);
      else
        fail(
          `fork: checkpoint seq ${top.seq} is signed with root ${top.rootHash}, not the ${recorded.rootHash} verified before`,
        );
    }
  }
  if (fresh.length === 0) return report;

  // Each newer checkpoint verified; the same seq twice with two signed roots is a fork.
  const verified = new Map<number, Checkpoint>();
  const unproven = new Map<number, string>();
  for (const [i, item] of fresh.entries()) {
    const name = Number.isSafeInteger(item.seq)
      ? `checkpoint seq ${item.seq}`
      : `checkpoint ${i + 1} of the list`;
    const judged = await judge(item, name);
    judged.problems.forEach(fail);
    if (judged.problems.length > 0) continue;
    const checkpoint = item as unknown as Checkpoint;
    const twin = verified.get(checkpoint.seq);
    if (twin && twin.rootHash !== checkpoint.rootHash)
      fail(
        `fork: two signed checkpoints at seq ${checkpoint.seq}, with roots ${twin.rootHash} and ${checkpoint.rootHash}`,
      );
    else verified.set(checkpoint.seq, checkpoint);
    if (judged.unproven) unproven.set(checkpoint.seq, judged.unproven);
  }
  const all = [...verified.values()].sort((a, b) => a.seq - b.seq);
  // The newest whose key is proven valid anchors the round; unproven ones before it are
  // vouched for by their consistency with it, those after it wait for a later round.
  const newest = all.findLast((c) => !unproven.has(c.seq));
  for (const c of all)
    if (!newest || c.seq > newest.seq)
      report.pending.push(
        `${unproven.get(c.seq)}; waiting for a later checkpoint, by a valid key, that extends it`,
      );
  const ordered = all.filter((c) => newest && c.seq <= newest.seq);
  report.checked = ordered.length;
  if (!newest) return report;
  report.merchantId ??= newest.merchantId;
  report.newest = view(newest);

  // Every earlier checkpoint, the recorded one included, must be a prefix of the newest.
  const earlier = [...(state ? [state.checkpoint] : []), ...ordered.slice(0, -1)];
  for (const older of earlier) {
    const path = `${API}/checkpoints/consistency?from=${older.seq}&to=${newest.seq}`;
    let proof: string[];
    try {
      proof = proofIn(await get(path), `${url}${path}`);
    } catch (error) {
      // An honest log never drops a checkpoint (it may only sign one again at its seq): the
      // one verified before, gone, is a rewrite or a rollback, not an outage.
      if (
        older === state?.checkpoint &&
        error instanceof ServerUnreadable &&
        error.status === 404
      ) {
        fail(
          `rewrite or rollback: the log no longer holds checkpoint seq ${older.seq} (root ${older.rootHash}), verified before: ${error.message}`,
        );
        continue;
      }
      // A failure found already must not turn into "could not check" (exit 2) because the
      // server then gives no proof: that is reported with it.
      if (report.ok || !(error instanceof ServerUnreadable)) throw error;
      fail(`no consistency proof from seq ${older.seq} to ${newest.seq}: ${error.message}`);
      continue;
    }
    const check = await verifyConsistency({
      from: older.seq,
      to: newest.seq,
      fromRoot: older.rootHash,
      toRoot: newest.rootHash,
      proof,
    });
    if (!check.ok)
      fail(
        `the log at seq ${newest.seq} does not extend checkpoint seq ${older.seq} (root ${older.rootHash}): ${check.reason}`,
      );
  }
  if (report.ok) {
    for (const c of ordered)
      if (unproven.has(c.seq) && c.seq < newest.seq)
        report.vouched.push(
          `${unproven.get(c.seq)}; its root is vouched for by checkpoint seq ${newest.seq}, which extends it`,
        );
    try {
      await writeState(statePath, { url, checkpoint: newest });
    } catch (error) {
      throw new UnreadableInput(
        `the log is consistent up to seq ${newest.seq}, but ${statePath} cannot be written: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
  }
  return report;
}

/**
 * The checkpoint's key is the merchant's, in its window from nbf, and revoked as of a time at
 * or before the checkpoint: a revocation dated back to a compromise, after which the service
 * signs that head again with a valid key (README, "Revocations dated back").
 */
function revokedAsOf(checkpoint: Checkpoint, history: KeyHistory): boolean {
  const key = history.find(checkpoint.signingKeyKid);
  const revokedAt = history.revokedAt(checkpoint.signingKeyKid);
  const created = Date.parse(checkpoint.createdAt);
  return (
    key !== undefined &&
    revokedAt !== undefined &&
    key.merchantId === checkpoint.merchantId &&
    created >= Date.parse(key.nbf as string) &&
    created >= Date.parse(revokedAt)
  );
}

/** Why `item` cannot be a checkpoint (SPEC §6), before anything reads its members. */
function malformed(item: Record<string, unknown>): string | undefined {
  if (!Number.isSafeInteger(item.seq) || (item.seq as number) < 1)
    return `seq ${printable(JSON.stringify(item.seq) ?? 'missing', 40)} is not a positive integer`;
  if (typeof item.rootHash !== 'string' || !/^[0-9a-f]{64}$/.test(item.rootHash))
    return 'rootHash is not 64 lowercase hex digits';
  if (typeof item.createdAt !== 'string' || Number.isNaN(Date.parse(item.createdAt)))
    return 'createdAt is not a time';
  if (typeof item.merchantId !== 'string') return 'merchantId is not a string';
  return undefined;
}

/** The proof of a consistency answer, or ServerUnreadable when it has none. */
function proofIn(answer: unknown, url: string): string[] {
  const proof = (answer as { proof?: unknown } | null)?.proof;
  if (!Array.isArray(proof) || !proof.every((hash) => typeof hash === 'string'))
    throw new ServerUnreadable(`${url} answered no proof (a list of hashes)`);
  return proof;
}

/**
 * The checkpoints the server lists with seq above `after` (or with no valid seq, to be judged),
 * and the one with the highest seq it lists (its newest). The API lists newest first, so the
 * pages stop at the one that reaches `after`; the whole of that page is read, so an order
 * the API would not answer still loses nothing. Pages that are not what the API answers,
 * that loop, or more than MAX_PAGES of them, are a server that cannot be read.
 */
async function newerCheckpoints(
  get: (path: string) => Promise<unknown>,
  after: number,
): Promise<{ fresh: Record<string, unknown>[]; top: Record<string, unknown> | undefined }> {
  const fresh: Record<string, unknown>[] = [];
  let top: Record<string, unknown> | undefined;
  const cursors = new Set<string>();
  let cursor: string | null = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const path: string = `${API}/checkpoints?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const body = (await get(path)) as { checkpoints?: unknown; nextCursor?: unknown } | null;
    const list = body?.checkpoints;
    const next = body?.nextCursor ?? null;
    if (
      !Array.isArray(list) ||
      !list.every((c) => typeof c === 'object' && c !== null && !Array.isArray(c)) ||
      (next !== null && typeof next !== 'string')
    )
      throw new ServerUnreadable(`${path} did not answer a list of checkpoints`);
    let reached = false;
    for (const item of list as Record<string, unknown>[]) {
      const seq =
        Number.isSafeInteger(item.seq) && (item.seq as number) >= 1 ? (item.seq as number) : 0;
      if (seq > ((top?.seq as number | undefined) ?? 0)) top = item;
      if (seq >= 1 && seq <= after) reached = true;
      else fresh.push(item);
    }
    if (reached || next === null) return { fresh, top };
    if (cursors.has(next)) throw new ServerUnreadable(`${path}: the pages of checkpoints loop`);
    cursors.add(next);
    cursor = next;
  }
  throw new ServerUnreadable(
    `more than ${MAX_PAGES} pages of new checkpoints (${MAX_PAGES * 500} checkpoints) in one round`,
  );
}

/** A state larger than this is not one the monitor wrote. */
const MAX_STATE_BYTES = MiB;

async function readState(path: string): Promise<MonitorState | null> {
  let text: string;
  try {
    text = await readText(path, 'monitor state', MAX_STATE_BYTES);
  } catch (error) {
    // No state yet: the first round.
    if (error instanceof UnreadableInput && error.code === 'ENOENT') return null;
    throw error;
  }
  try {
    const state = JSON.parse(text) as MonitorState;
    if (isState(state)) return state;
  } catch {}
  // Exit 2 (its input is unreadable), never a verdict: a damaged state is no fork or rollback.
  throw new UnreadableInput(`${path} is not a monitor state file`);
}

/** What writeState writes: the log's URL and a checkpoint with a seq, a root and a time. */
function isState(state: MonitorState | null): boolean {
  const checkpoint = state?.checkpoint;
  return (
    typeof state?.url === 'string' &&
    typeof checkpoint === 'object' &&
    checkpoint !== null &&
    Number.isSafeInteger(checkpoint.seq) &&
    checkpoint.seq >= 1 &&
    typeof checkpoint.rootHash === 'string' &&
    /^[0-9a-f]{64}$/.test(checkpoint.rootHash) &&
    typeof checkpoint.createdAt === 'string'
  );
}

/** Written whole or not at all: a crash never leaves half a state. */
async function writeState(path: string, state: MonitorState): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`);
  await rename(temporary, path);
}

function render(report: MonitorReport): string {
  const lines = [
    `${report.ok ? 'CONSISTENT' : 'FAIL'}  ${report.url}${report.merchantId ? ` (merchant ${report.merchantId})` : ''}`,
    report.newest
      ? `  newest verified checkpoint: seq ${report.newest.seq}, root ${report.newest.rootHash}, ${report.newest.createdAt}`
      : '  no checkpoint yet',
    // `checked` counts the vouched-for ones too (proven consistent, their key unproven).
    `  ${report.checked} new checkpoint(s) checked in this round${report.vouched.length ? ` (${report.vouched.length} of them vouched for, below)` : ''}`,
    ...report.vouched.map((v) => `  NOTE: ${v}`),
    ...report.pending.map((p) => `  PENDING: ${p}`),
    ...report.failures.map((f) => `  FAILED: ${f}`),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * The key history of a month from the snapshot the server answered for it. A genuine
 * snapshot of another month passes its signature check, but an older one lacks the keys and
 * revocations made since: key validity would be unknown, and a checkpoint by an expired key
 * would wait as PENDING (exit 0) instead of failing. So the answer must be that month's
 * (exit 2 otherwise, as for any answer the monitor cannot use).
 */
export async function monthKeyHistory(
  period: string,
  document: unknown,
  publisher: PublisherKeys,
): Promise<KeyHistory> {
  let history: KeyHistory;
  try {
    history = await loadKeyHistory(document, { publisher });
  } catch (error) {
    throw new ServerUnreadable(
      `the key snapshot of ${period} cannot be read: ${printable((error as Error).message)}`,
    );
  }
  const answered = history.snapshot?.period;
  if (history.authentic.status === 'asserted' && answered !== period) {
    throw new ServerUnreadable(
      `the server answered the key snapshot of ${printable(String(answered ?? 'no month'))} for ${period}`,
    );
  }
  return history;
}

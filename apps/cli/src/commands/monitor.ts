import { readFile, rename, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { type Checkpoint, periodOf, snapshotUrlPath, verifyConsistency } from '@quittance/format';
import {
  type KeyHistory,
  loadKeyHistory,
  type PublisherKeys,
  verifyCheckpoint,
} from '@quittance/verifier';
import { readPublisher, readTsaTrust, UnreadableInput } from '../inputs';
import { UsageError } from '../usage';

/** What the monitor keeps between runs: the newest checkpoint it verified. */
interface MonitorState {
  url: string;
  checkpoint: Checkpoint;
}

interface MonitorReport {
  ok: boolean;
  url: string;
  merchantId: string | null;
  /** Checkpoints newer than the state that were verified in this round. */
  checked: number;
  newest: { seq: number; rootHash: string; createdAt: string } | null;
  failures: string[];
}

/** The input could not be read or reached: exit 2, not a verdict on the log. */
class Unreachable extends Error {}

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
      if (!(error instanceof Unreachable || error instanceof UnreadableInput)) throw error;
      process.stderr.write(`quittance monitor: ${error.message}\n`);
      code = 2;
    }
    // A failed check ends the watch (someone must look); an unreachable server is retried.
    if (values.once || code === 1) return code;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** The longest wait a timer takes (2^31 - 1 ms), in whole seconds: about 24 days. */
const MAX_INTERVAL_S = Math.floor((2 ** 31 - 1) / 1000);

/** --interval-s: whole seconds from 1 to MAX_INTERVAL_S (60 when not given). */
function intervalMs(value: string | undefined): number {
  const seconds = Number(value ?? 60);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_INTERVAL_S)
    throw new UsageError(
      `--interval-s must be whole seconds from 1 to ${MAX_INTERVAL_S}, not ${JSON.stringify(value)}`,
    );
  return seconds * 1000;
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

/**
 * One round: fetch the checkpoints newer than the state, verify each one's signature against
 * the published key history, prove each consistent with the newest, and the newest with the
 * state's; record the newest only when all of that holds.
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
    throw new Unreachable(`${statePath} is the state of ${state.url}, not of ${url}`);
  const get = (path: string) => fetchJson(`${url}${path}`, key);
  const fresh = await newerCheckpoints(get, state?.checkpoint.seq ?? 0);
  const report: MonitorReport = {
    ok: true,
    url,
    merchantId: fresh[0]?.merchantId ?? state?.checkpoint.merchantId ?? null,
    checked: 0,
    newest: null,
    failures: [],
  };
  const fail = (message: string) => {
    report.ok = false;
    report.failures.push(message);
  };
  const newest = fresh.at(-1);
  if (!newest) {
    // Nothing newer: the newest the server shows must still be the recorded one.
    const [top] = (await get(`${API}/checkpoints?limit=1`)).checkpoints as Checkpoint[];
    if (state && (!top || top.seq < state.checkpoint.seq))
      fail(
        `rollback: the newest checkpoint is ${top ? `seq ${top.seq}` : 'none'}, but seq ${state.checkpoint.seq} was verified before`,
      );
    else if (state && top && top.rootHash !== state.checkpoint.rootHash)
      fail(`fork: checkpoint seq ${top.seq} now has root ${top.rootHash}, not the one verified`);
    const last = state?.checkpoint;
    report.newest = last
      ? { seq: last.seq, rootHash: last.rootHash, createdAt: last.createdAt }
      : null;
    return report;
  }

  const histories = new Map<string, Promise<KeyHistory>>();
  const historyFor = (checkpoint: Checkpoint) => {
    const period = periodOf(checkpoint.createdAt);
    let history = histories.get(period);
    if (!history) {
      history = get(snapshotUrlPath(period)).then((doc) => loadKeyHistory(doc, { publisher }));
      histories.set(period, history);
    }
    return history;
  };
  for (const checkpoint of fresh) {
    const verdict = await verifyCheckpoint(checkpoint, await historyFor(checkpoint), {
      publisher,
      tsaTrustAnchors: options.tsaTrustAnchors,
    });
    for (const claim of [
      'snapshot_authentic',
      'signature_valid',
      'key_valid_at_issuance',
    ] as const) {
      const c = verdict.claims[claim];
      if (c.status !== 'asserted')
        fail(`checkpoint seq ${checkpoint.seq}: ${claim} ${c.status}: ${c.reason}`);
    }
    report.checked++;
  }
  // Every earlier checkpoint, the recorded one included, must be a prefix of the newest.
  const earlier = [...(state ? [state.checkpoint] : []), ...fresh.slice(0, -1)];
  for (const older of earlier) {
    let answer: Record<string, unknown>;
    try {
      answer = await get(`${API}/checkpoints/consistency?from=${older.seq}&to=${newest.seq}`);
    } catch (error) {
      // A failure found already must not turn into "could not check" (exit 2) because the
      // server then refuses a proof: that refusal is reported with it.
      if (report.ok || !(error instanceof Unreachable)) throw error;
      fail(`no consistency proof from seq ${older.seq} to ${newest.seq}: ${error.message}`);
      continue;
    }
    const check = await verifyConsistency({
      from: older.seq,
      to: newest.seq,
      fromRoot: older.rootHash,
      toRoot: newest.rootHash,
      proof: Array.isArray(answer.proof) ? answer.proof : [],
    });
    if (!check.ok)
      fail(
        `the log at seq ${newest.seq} does not extend checkpoint seq ${older.seq} (root ${older.rootHash}): ${check.reason}`,
      );
  }
  report.newest = { seq: newest.seq, rootHash: newest.rootHash, createdAt: newest.createdAt };
  if (report.ok) await writeState(statePath, { url, checkpoint: newest });
  return report;
}

/** Checkpoints with seq above `after`, oldest first (the API lists newest first). */
async function newerCheckpoints(
  get: (path: string) => Promise<Record<string, unknown>>,
  after: number,
): Promise<Checkpoint[]> {
  const found: Checkpoint[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 1_000; page++) {
    const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const body = await get(`${API}/checkpoints?limit=500${query}`);
    const list = (body.checkpoints ?? []) as Checkpoint[];
    for (const checkpoint of list) {
      if (checkpoint.seq <= after) return found.reverse();
      found.push(checkpoint);
    }
    cursor = (body.nextCursor as string | null) ?? null;
    if (!cursor) break;
  }
  return found.reverse();
}

async function fetchJson(url: string, key: string): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { authorization: `Bearer ${key}` },
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    throw new Unreachable(`cannot reach ${url}: ${(error as Error).message}`);
  }
  const text = await response.text();
  if (!response.ok)
    throw new Unreachable(`${url} answered ${response.status}: ${text.slice(0, 200)}`);
  try {
    return JSON.parse(text);
  } catch {
    throw new Unreachable(`${url} did not answer JSON`);
  }
}

async function readState(path: string): Promise<MonitorState | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Unreachable(`cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    const state = JSON.parse(text) as MonitorState;
    if (isState(state)) return state;
  } catch {}
  // Exit 2 (its input is unreadable), never a verdict: a damaged state is no fork or rollback.
  throw new Unreachable(`${path} is not a monitor state file`);
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
    `  ${report.checked} new checkpoint(s) verified in this round`,
    ...report.failures.map((f) => `  FAILED: ${f}`),
  ];
  return `${lines.join('\n')}\n`;
}

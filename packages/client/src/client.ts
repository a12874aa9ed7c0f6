import {
  MAX_TIMER_MS,
  periodOf,
  periodOfSnapshotUrl,
  type Receipt,
  snapshotUrlPath,
} from '@quittance/format';
import {
  type BundleVerification,
  type KeyHistory,
  loadKeyHistory,
  type PublisherKeys,
  parsePublisherKeys,
  type ReceiptReport,
  verifyBundle,
  verifyReceipt,
} from '@quittance/verifier';
import { type Problem, QuittanceError, retryAfterMs } from './errors';
import type { components, paths } from './openapi';

type Json<T> = T extends { content: { 'application/json': infer B } } ? B : never;

export type IssueRequest = components['schemas']['IssueRequest'];
export type Export = components['schemas']['Export'];
export type ExportRequest = Json<paths['/api/v1/trust/exports']['post']['requestBody']>;
export type InclusionProof = components['schemas']['InclusionProof'];
type ListPage = Json<paths['/api/v1/trust/receipts']['get']['responses'][200]>;

export interface ClientOptions {
  /** e.g. https://receipts.example.com */
  baseUrl: string;
  apiKey: string;
  /**
   * The publisher JWKS, pinned: the root of trust (SPEC §5), read from a file or a config
   * the caller trusts. Without it `verify` leaves `snapshot_authentic` unknown, as
   * `quittance verify` without `--publisher` does, and `verifyBundle` refuses to run.
   */
  publisher?: unknown;
  /** Attempts for retryable requests (reads, and issues, which are idempotent on callId). */
  attempts?: number;
  timeoutMs?: number;
  /** First retry delay; doubles each time, with jitter. */
  retryDelayMs?: number;
  /**
   * The longest Retry-After the client waits out before asking again (60 s); an answer that
   * asks for longer is thrown at once, with its `retryAfterMs`, for the caller to decide.
   */
  maxRetryAfterMs?: number;
  fetch?: typeof fetch;
}

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
/** Ended months' snapshots kept at once. */
const MAX_KEPT_MONTHS = 24;
/** How long after its end a month counts as ended: clocks differ. */
const CLOCK_MARGIN_MS = 60 * 60 * 1000;

type Settings = Required<Omit<ClientOptions, 'publisher' | 'fetch'>> &
  Pick<ClientOptions, 'publisher'>;

/**
 * A small client of the Quittance API for merchant backends and agents. Reads and issues
 * are retried on network errors, timeouts, 429 and 5xx gateways, honouring Retry-After;
 * issuing again is safe because the API is idempotent on `callId`. Errors are typed.
 */
export class QuittanceClient {
  readonly #base: string;
  readonly #options: Settings;
  readonly #fetch: typeof fetch;
  readonly #publisher: PublisherKeys | undefined;
  /** Ended months' key histories, least recently used first ({@link #keyHistory}). */
  readonly #closedMonths = new Map<string, Promise<KeyHistory>>();

  constructor(options: ClientOptions) {
    this.#base = options.baseUrl.replace(/\/+$/, '');
    // A base without a scheme (127.0.0.1:8787) failed each request as a network error.
    if (!URL.canParse(this.#base) || !/^https?:$/.test(new URL(this.#base).protocol))
      throw new RangeError(
        `baseUrl must be an http or https URL, not ${JSON.stringify(options.baseUrl)}`,
      );
    // An option given as undefined takes its default (spread alone would erase it).
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.#options = {
      attempts: 4,
      timeoutMs: 10_000,
      retryDelayMs: 200,
      maxRetryAfterMs: 60_000,
      ...given,
    } as Settings;
    this.#fetch = options.fetch ?? fetch;
    const { attempts, timeoutMs, retryDelayMs, maxRetryAfterMs } = this.#options;
    wholeNumber('attempts', attempts, 1, 100);
    wholeNumber('timeoutMs', timeoutMs, 1, MAX_TIMER_MS);
    wholeNumber('retryDelayMs', retryDelayMs, 0, MAX_TIMER_MS);
    wholeNumber('maxRetryAfterMs', maxRetryAfterMs, 0, MAX_TIMER_MS);
    // Only an absent pin means none: a pin that is null or '' (a file that failed to load) is
    // refused, never read as none.
    if (options.publisher !== undefined) this.#publisher = parsePublisherKeys(options.publisher);
  }

  /**
   * Issues a receipt; `replayed` is true when this callId was issued before with the same
   * content. That includes this very call when its first answer was lost on the way and the
   * client asked again (the service had already issued it).
   */
  async issueReceipt(request: IssueRequest): Promise<{ receipt: Receipt; replayed: boolean }> {
    const answer = await this.#request('POST', '/api/v1/trust/receipts', {
      body: request,
      retry: true,
    });
    return { receipt: jsonOf(answer) as Receipt, replayed: answer.status === 200 };
  }

  async getReceipt(id: string): Promise<Receipt> {
    return (await this.#json(`/api/v1/trust/receipts/${segment(id)}`)) as Receipt;
  }

  /** All receipts of an order, oldest first. */
  async listByOrder(orderId: string): Promise<Receipt[]> {
    const body = (await this.#json(`/api/v1/trust/receipts/by-order/${segment(orderId)}`)) as {
      receipts: Receipt[];
    };
    return body.receipts;
  }

  /** Every page of a filtered listing, newest first. */
  async *listReceipts(filter: Record<string, string | number> = {}): AsyncIterable<Receipt> {
    let cursor: string | null | undefined;
    do {
      const query = new URLSearchParams({
        ...Object.fromEntries(Object.entries(filter).map(([k, v]) => [k, String(v)])),
        ...(cursor ? { cursor } : {}),
      });
      const page = (await this.#json(`/api/v1/trust/receipts?${query}`)) as ListPage;
      yield* page.receipts as Receipt[];
      cursor = page.nextCursor;
    } while (cursor);
  }

  async createExport(request: ExportRequest): Promise<Export> {
    // Not retried: a retry after a lost answer would start a second export.
    return jsonOf(
      await this.#request('POST', '/api/v1/trust/exports', { body: request, retry: false }),
    ) as Export;
  }

  async getExport(id: string): Promise<Export> {
    return (await this.#json(`/api/v1/trust/exports/${segment(id)}`)) as Export;
  }

  /** Polls until the export is done (or failed, which throws). */
  async waitForExport(
    id: string,
    options: { intervalMs?: number; timeoutMs?: number } = {},
  ): Promise<Export> {
    const deadline = Date.now() + (options.timeoutMs ?? 10 * 60_000);
    for (;;) {
      const current = await this.getExport(id);
      if (current.status === 'done') return current;
      if (current.status === 'failed')
        throw new QuittanceError('export_failed', current.error ?? `export ${id} failed`);
      if (Date.now() > deadline)
        throw new QuittanceError('timeout', `export ${id} is still ${current.status}`);
      await sleep(options.intervalMs ?? 500);
    }
  }

  /** The bundle's bytes (a zip, SPEC §9). */
  async downloadExport(id: string): Promise<Uint8Array> {
    return (
      await this.#request('GET', `/api/v1/trust/exports/${segment(id)}/download`, {
        retry: true,
      })
    ).bytes;
  }

  /**
   * The receipt's inclusion proof (SPEC §6.1) against the newest checkpoint that covers it,
   * or against checkpoint `checkpoint` (its seq). Before a checkpoint covers the receipt the
   * API answers 404 `not_checkpointed`: {@link waitForProof} waits for one.
   */
  async getProof(id: string, options: { checkpoint?: number } = {}): Promise<InclusionProof> {
    const query = options.checkpoint === undefined ? '' : `?checkpoint=${options.checkpoint}`;
    return (await this.#json(`${proofPath(id)}${query}`)) as InclusionProof;
  }

  /**
   * {@link getProof}, asked again while no checkpoint covers the receipt yet (the service
   * signs one at least every minute while its chain moves), after the Retry-After the
   * service gives, and while the service is unreachable or unavailable (a restart) past the
   * retries of one request. Any other error, or still none after `timeoutMs` (`timeout`,
   * the last error as its cause), throws.
   */
  async waitForProof(id: string, options: { timeoutMs?: number } = {}): Promise<InclusionProof> {
    const answer = await this.#waitFor(`proof of ${id}`, proofPath(id), options.timeoutMs);
    return jsonOf(answer) as InclusionProof;
  }

  /**
   * One GET asked until it answers, while it is waitable (`not_checkpointed`, the service
   * away or unavailable), after the Retry-After the service gives (at least 100 ms), within
   * `timeoutMs` (default 2 minutes): `timeout` after it, the last error as its cause.
   */
  async #waitFor(what: string, path: string, timeoutMs = 2 * 60_000): Promise<Answer> {
    if (!(timeoutMs >= 0))
      throw new RangeError(`timeoutMs must be a number of ms, not ${timeoutMs}`);
    const deadline = Date.now() + timeoutMs;
    // What the service last said (not_checkpointed, 503), kept as the cause when the last ask
    // was only cut short by the deadline.
    let said: QuittanceError | undefined;
    for (;;) {
      try {
        // One ask per turn, within what is left: the loop does the retrying, so the asks'
        // own retries and Retry-After waits do not stack past timeoutMs.
        const left = Math.max(1, Math.min(this.#options.timeoutMs, deadline - Date.now()));
        return await this.#request('GET', path, { retry: false, timeoutMs: left });
      } catch (error) {
        if (!(error instanceof QuittanceError) || !waitable(error)) throw error;
        // As for any request: a wait longer than maxRetryAfterMs is the caller's to decide.
        if ((error.retryAfterMs ?? 0) > this.#options.maxRetryAfterMs) throw error;
        if (error.code !== 'timeout') said = error;
        const left = deadline - Date.now();
        if (left <= 0) {
          const cause = said ?? error;
          throw new QuittanceError(
            'timeout',
            `no ${what} within ${timeoutMs} ms: ${cause.message}`,
            cause.status,
            cause.problem,
            { cause, retryAfterMs: cause.retryAfterMs },
          );
        }
        // Retry-After, at least 100 ms, and not past the deadline (one last ask at it).
        await sleep(Math.min(Math.max(error.retryAfterMs ?? 1000, 100), left));
      }
    }
  }

  /**
   * An order's evidence bundle (a zip, SPEC §9.1): the order's receipts this key may see,
   * each with its inclusion proof against one checkpoint, and the key history and checkpoint
   * to check them offline; `includeBodies` (merchant and auditor keys) adds the bodies. While
   * no checkpoint covers the order's newest receipt the API answers 404 `not_checkpointed`:
   * {@link waitForOrderEvidence} waits for one.
   */
  async getOrderEvidence(
    orderId: string,
    options: { includeBodies?: boolean } = {},
  ): Promise<Uint8Array> {
    return zipOf(await this.#request('GET', evidencePath(orderId, options), { retry: true }));
  }

  /**
   * {@link getOrderEvidence}, asked again as {@link waitForProof} asks: while no checkpoint
   * covers the order's newest receipt, and while the service is away, until `timeoutMs`.
   * An order with no receipt this key may see is 404 `not_found` at once.
   */
  async waitForOrderEvidence(
    orderId: string,
    options: { includeBodies?: boolean; timeoutMs?: number } = {},
  ): Promise<Uint8Array> {
    const path = evidencePath(orderId, options);
    return zipOf(await this.#waitFor(`evidence of order ${orderId}`, path, options.timeoutMs));
  }

  /**
   * Verifies a receipt against the snapshot it names and the pinned publisher key; with none
   * pinned, `snapshot_authentic` is unknown (SPEC §10: evidence not given), as from
   * `quittance verify` without `--publisher`: a key fetched from the same service would prove
   * only that it agrees with itself. With its `proof` ({@link getProof}), `included_in_log`
   * is decided too; with the `bodies` sent, `body_matches`.
   */
  async verify(
    receipt: Receipt,
    options: {
      proof?: InclusionProof;
      bodies?: { input?: unknown; output?: unknown };
      tsaTrustAnchors?: Uint8Array[];
    } = {},
  ): Promise<ReceiptReport> {
    // The receipt names its snapshot by the service's public URL; only its period is taken,
    // and the snapshot asked of this client's base (which may sit behind another prefix): a
    // receipt cannot make the client GET anything but a snapshot with its key.
    const period = periodOfSnapshotUrl(String(receipt.jwksSnapshotUrl));
    if (!period)
      throw new QuittanceError(
        'invalid_receipt',
        `jwksSnapshotUrl ${JSON.stringify(receipt.jwksSnapshotUrl)} names no snapshot (…/YYYY-MM.json)`,
      );
    const verifyIn = periodToVerifyIn(period, options.proof);
    const history = await this.#keyHistory(verifyIn).catch((error) => {
      // A checkpoint's month without a snapshot here: the receipt's own, which may leave
      // included_in_log unknown but never wrong.
      if (verifyIn !== period && error instanceof QuittanceError && error.status === 404)
        return this.#keyHistory(period);
      throw error;
    });
    return verifyReceipt(receipt, history, options);
  }

  /**
   * The checked key history of a month's snapshot. A month that ended (an hour ago, for
   * clocks that differ) is kept: its snapshot is final, as the SPEC re-issues a snapshot only
   * inside its month (§5), so verifying its receipts one by one fetches and checks it once
   * (it lists every merchant's keys), once the pinned publisher key vouches for it. The
   * current month's is fetched each time: a revocation must count at once, and it is one of
   * the keys listed already.
   */
  #keyHistory(period: string): Promise<KeyHistory> {
    const kept = this.#closedMonths.get(period);
    if (kept) {
      // Used last, evicted last.
      this.#closedMonths.delete(period);
      this.#closedMonths.set(period, kept);
      return kept;
    }
    const publisher = this.#publisher;
    const history = this.#json(snapshotUrlPath(period)).then((snapshot) =>
      loadKeyHistory(snapshot, publisher ? { publisher } : {}),
    );
    if (!isClosedMonth(period, Date.now())) return history;
    // Kept while it is fetched too (one fetch for concurrent calls), dropped if it fails.
    this.#closedMonths.set(period, history);
    if (this.#closedMonths.size > MAX_KEPT_MONTHS)
      this.#closedMonths.delete(this.#closedMonths.keys().next().value as string);
    // Only one the pinned key vouches for: a damaged or forged answer (a proxy's) would
    // otherwise stand for the client's lifetime (a review); unpinned, none is kept.
    const forget = () => {
      if (this.#closedMonths.get(period) === history) this.#closedMonths.delete(period);
    };
    history.then((kept) => kept.authentic.status !== 'asserted' && forget(), forget);
    return history;
  }

  /**
   * Verifies an export or an order's evidence bundle offline ({@link downloadExport},
   * {@link getOrderEvidence}), against the pinned publisher key, which it needs, as
   * `quittance verify BUNDLE.zip --publisher` does (SPEC §10): without one it throws
   * `publisher_not_pinned`. `ok` is false when any claim is refuted; a zip that cannot be read
   * (cut short, damaged, past the verifier's limits) throws the verifier's `BundleError`
   * (`unreadable`), as `quittance verify` exits 2.
   */
  async verifyBundle(
    bundle: Uint8Array,
    options: {
      tsaTrustAnchors?: Uint8Array[];
      /** Every receipt's report in `receipts` (by default only counts and first failures). */
      keepReceipts?: boolean;
    } = {},
  ): Promise<BundleVerification> {
    const publisher = this.#publisher;
    if (!publisher)
      throw new QuittanceError(
        'publisher_not_pinned',
        'a bundle is verified against a pinned publisher key: pass `publisher` (the JWKS of ' +
          '/.well-known/quittance-publisher.json, kept where you trust it) to the client',
      );
    return verifyBundle(bundle, { ...options, publisher });
  }

  async #json(path: string): Promise<unknown> {
    return jsonOf(await this.#request('GET', path, { retry: true }));
  }

  /**
   * One request, its answer read whole inside the same deadline and retries: a connection
   * that breaks or stalls while the body arrives is a `network_error` or `timeout` like one
   * that fails before, retried when the request may be.
   */
  async #request(
    method: string,
    path: string,
    options: { body?: unknown; retry: boolean; timeoutMs?: number },
  ): Promise<Answer> {
    const attempts = options.retry ? this.#options.attempts : 1;
    let lastError: QuittanceError | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let answer: Answer;
      try {
        const res = await this.#fetch(`${this.#base}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${this.#options.apiKey}`,
            ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
          signal: AbortSignal.timeout(options.timeoutMs ?? this.#options.timeoutMs),
        });
        answer = {
          status: res.status,
          headers: res.headers,
          bytes: new Uint8Array(await res.arrayBuffer()),
          what: `${method} ${path}`,
        };
      } catch (cause) {
        lastError = transportError(cause, `${method} ${path}`);
        if (attempt < attempts) await sleep(this.#delay(attempt));
        continue;
      }
      if (answer.status >= 200 && answer.status < 300) return answer;
      lastError = problemError(answer);
      if (!RETRYABLE_STATUS.has(answer.status) || attempt === attempts) throw lastError;
      const asked = lastError.retryAfterMs;
      if (asked !== undefined && asked > this.#options.maxRetryAfterMs) throw lastError;
      await sleep(asked || this.#delay(attempt));
    }
    throw lastError as QuittanceError;
  }

  #delay(attempt: number): number {
    return Math.round(this.#options.retryDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random()));
  }
}

/** What a wait outlasts: no checkpoint yet, or the service away for a while. */
const waitable = (error: QuittanceError) =>
  error.code === 'not_checkpointed' ||
  error.code === 'network_error' ||
  error.code === 'timeout' ||
  (error.status !== undefined && RETRYABLE_STATUS.has(error.status));

/** An answer read whole. */
interface Answer {
  status: number;
  headers: Headers;
  bytes: Uint8Array;
  /** The request, for messages: `GET /api/v1/…`. */
  what: string;
}

/** A request that got no whole answer: `timeout` past the deadline, else `network_error`. */
function transportError(cause: unknown, what: string): QuittanceError {
  const error = cause as Error & { cause?: { code?: string; message?: string } };
  const timedOut = error?.name === 'TimeoutError';
  // fetch says only "fetch failed"; what failed (ECONNREFUSED, a reset) is its cause.
  const why = error?.cause?.code ?? error?.cause?.message;
  return new QuittanceError(
    timedOut ? 'timeout' : 'network_error',
    `${what}: ${error?.message ?? String(cause)}${why ? ` (${why})` : ''}`,
    undefined,
    undefined,
    { cause },
  );
}

/** A non-2xx answer as a typed error, with its problem+json when it has one. */
function problemError(answer: Answer): QuittanceError {
  const text = new TextDecoder().decode(answer.bytes);
  let problem: Problem | undefined;
  try {
    problem = JSON.parse(text) as Problem;
  } catch {}
  const code = problem?.code ?? (answer.status >= 500 ? 'service_unavailable' : 'http_error');
  return new QuittanceError(
    code,
    `${answer.what}: ${answer.status} ${problem?.detail ?? problem?.title ?? text.slice(0, 200)}`,
    answer.status,
    problem,
    { retryAfterMs: retryAfterMs(answer.headers.get('retry-after')) },
  );
}

/** A 2xx answer's JSON; anything else (a proxy's login page) is `invalid_response`. */
function jsonOf(answer: Answer): unknown {
  const text = new TextDecoder().decode(answer.bytes);
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new QuittanceError(
      'invalid_response',
      `${answer.what}: ${answer.status} is not JSON: ${text.slice(0, 200)}`,
      answer.status,
      undefined,
      { cause },
    );
  }
}

/** Whether `period` (YYYY-MM, UTC) ended more than {@link CLOCK_MARGIN_MS} before `now`. */
export function isClosedMonth(period: string, now: number): boolean {
  const [year, month] = period.split('-').map(Number);
  return Date.UTC(year as number, month as number) + CLOCK_MARGIN_MS <= now;
}

/**
 * The period of the key snapshot to verify a receipt against: its own (`period`), or with a
 * proof, the month of the proof's checkpoint when that is later. A month's snapshot holds the
 * keys of earlier months too, and only one as new as the checkpoint can vouch for the key
 * that signed it: against the receipt's own, a checkpoint of a later month (the newest one,
 * which getProof answers, when the month has turned since) leaves `included_in_log` unknown.
 */
function periodToVerifyIn(period: string, proof: InclusionProof | undefined): string {
  const signed = Date.parse(String(proof?.checkpoint?.createdAt));
  if (Number.isNaN(signed)) return period;
  const month = periodOf(new Date(signed));
  return month > period ? month : period;
}

/** A zip answer's bytes; anything else is `invalid_response`. */
function zipOf(answer: Answer): Uint8Array {
  const type = answer.headers.get('content-type') ?? '';
  if (!/^application\/zip\s*(;|$)/i.test(type))
    throw new QuittanceError(
      'invalid_response',
      `${answer.what} answered ${JSON.stringify(type)}, not a zip (application/zip)`,
      answer.status,
    );
  return answer.bytes;
}

/**
 * A path segment. `.` and `..` are valid ids (SPEC §1) but no path can carry them (URLs
 * resolve them away): the order "." fetched another route's answer as its evidence.
 */
function segment(value: string): string {
  if (value === '.' || value === '..')
    throw new QuittanceError(
      'invalid_request',
      `${JSON.stringify(value)} cannot be a path segment: list such an order with listReceipts({ orderId })`,
    );
  return encodeURIComponent(value);
}

const proofPath = (id: string) => `/api/v1/trust/receipts/${segment(id)}/proof`;
const evidencePath = (orderId: string, options: { includeBodies?: boolean }) =>
  `/api/v1/trust/receipts/by-order/${segment(orderId)}/evidence${options.includeBodies ? '?includeBodies=true' : ''}`;

/** A whole number of `name` within [min, max], or a RangeError saying which. */
function wholeNumber(name: string, value: number, min: number, max: number): void {
  if (!(Number.isInteger(value) && value >= min && value <= max))
    throw new RangeError(`${name} must be a whole number from ${min} to ${max}, not ${value}`);
}

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, Math.min(ms, MAX_TIMER_MS)));
}

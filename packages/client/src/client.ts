import type { Receipt } from '@quittance/format';
import {
  loadKeyHistory,
  type PublisherKeys,
  parsePublisherKeys,
  type ReceiptReport,
  verifyReceipt,
} from '@quittance/verifier';
import { type Problem, QuittanceError } from './errors';
import type { components, paths } from './openapi';

type Json<T> = T extends { content: { 'application/json': infer B } } ? B : never;

export type IssueRequest = components['schemas']['IssueRequest'];
export type Export = components['schemas']['Export'];
export type ExportRequest = Json<paths['/api/v1/trust/exports']['post']['requestBody']>;
type ListPage = Json<paths['/api/v1/trust/receipts']['get']['responses'][200]>;

export interface ClientOptions {
  /** e.g. https://receipts.example.com */
  baseUrl: string;
  apiKey: string;
  /** Pinned publisher JWKS; without it `verify` fetches the service's own (trust on first use). */
  publisher?: unknown;
  /** Attempts for retryable requests (reads, and issues, which are idempotent on callId). */
  attempts?: number;
  timeoutMs?: number;
  /** First retry delay; doubles each time, with jitter. */
  retryDelayMs?: number;
  fetch?: typeof fetch;
}

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

/**
 * A small client of the Quittance API for merchant backends and agents. Reads and issues
 * are retried on network errors, timeouts, 429 and 5xx gateways, honouring Retry-After;
 * issuing again is safe because the API is idempotent on `callId`. Errors are typed.
 */
export class QuittanceClient {
  readonly #base: string;
  readonly #options: Required<Omit<ClientOptions, 'publisher' | 'fetch'>> &
    Pick<ClientOptions, 'publisher'>;
  readonly #fetch: typeof fetch;
  #publisher: PublisherKeys | undefined;

  constructor(options: ClientOptions) {
    this.#base = options.baseUrl.replace(/\/+$/, '');
    this.#options = { attempts: 4, timeoutMs: 10_000, retryDelayMs: 200, ...options };
    this.#fetch = options.fetch ?? fetch;
    if (options.publisher) this.#publisher = parsePublisherKeys(options.publisher);
  }

  /** Issues a receipt; `replayed` is true when this callId was issued before with the same content. */
  async issueReceipt(request: IssueRequest): Promise<{ receipt: Receipt; replayed: boolean }> {
    const res = await this.#request('POST', '/api/v1/trust/receipts', {
      body: request,
      retry: true,
    });
    return { receipt: (await res.json()) as Receipt, replayed: res.status === 200 };
  }

  async getReceipt(id: string): Promise<Receipt> {
    return (await this.#json(`/api/v1/trust/receipts/${encodeURIComponent(id)}`)) as Receipt;
  }

  /** All receipts of an order, oldest first. */
  async listByOrder(orderId: string): Promise<Receipt[]> {
    const body = (await this.#json(
      `/api/v1/trust/receipts/by-order/${encodeURIComponent(orderId)}`,
    )) as { receipts: Receipt[] };
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
    return (await (
      await this.#request('POST', '/api/v1/trust/exports', { body: request, retry: false })
    ).json()) as Export;
  }

  async getExport(id: string): Promise<Export> {
    return (await this.#json(`/api/v1/trust/exports/${encodeURIComponent(id)}`)) as Export;
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
    const res = await this.#request(
      'GET',
      `/api/v1/trust/exports/${encodeURIComponent(id)}/download`,
      { retry: true },
    );
    return new Uint8Array(await res.arrayBuffer());
  }

  /**
   * Verifies a receipt against the snapshot it names and the pinned publisher key (or the
   * service's, fetched once, when none was pinned: then `snapshot_authentic` only proves
   * consistency with that service).
   */
  async verify(
    receipt: Receipt,
    options: { tsaTrustAnchors?: Uint8Array[] } = {},
  ): Promise<ReceiptReport> {
    this.#publisher ??= parsePublisherKeys(
      await this.#json('/.well-known/quittance-publisher.json'),
    );
    const snapshot = await (
      await this.#request('GET', new URL(receipt.jwksSnapshotUrl).pathname, { retry: true })
    ).json();
    const history = await loadKeyHistory(snapshot, { publisher: this.#publisher });
    return verifyReceipt(receipt, history, options);
  }

  async #json(path: string): Promise<unknown> {
    return (await this.#request('GET', path, { retry: true })).json();
  }

  async #request(
    method: string,
    path: string,
    options: { body?: unknown; retry: boolean },
  ): Promise<Response> {
    const attempts = options.retry ? this.#options.attempts : 1;
    let lastError: QuittanceError | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let res: Response;
      try {
        res = await this.#fetch(`${this.#base}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${this.#options.apiKey}`,
            ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
          signal: AbortSignal.timeout(this.#options.timeoutMs),
        });
      } catch (cause) {
        const timedOut = (cause as Error)?.name === 'TimeoutError';
        lastError = new QuittanceError(
          timedOut ? 'timeout' : 'network_error',
          `${method} ${path}: ${(cause as Error).message}`,
          undefined,
          undefined,
          { cause },
        );
        if (attempt < attempts) await sleep(this.#delay(attempt));
        continue;
      }
      if (res.ok) return res;
      lastError = await toError(res, method, path);
      if (!RETRYABLE_STATUS.has(res.status) || attempt === attempts) throw lastError;
      const retryAfter = Number(res.headers.get('retry-after'));
      await sleep(
        Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : this.#delay(attempt),
      );
    }
    throw lastError as QuittanceError;
  }

  #delay(attempt: number): number {
    return Math.round(this.#options.retryDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random()));
  }
}

async function toError(res: Response, method: string, path: string): Promise<QuittanceError> {
  const text = await res.text();
  let problem: Problem | undefined;
  try {
    problem = JSON.parse(text) as Problem;
  } catch {}
  const code = problem?.code ?? (res.status >= 500 ? 'service_unavailable' : 'http_error');
  return new QuittanceError(
    code,
    `${method} ${path}: ${res.status} ${problem?.detail ?? problem?.title ?? text.slice(0, 200)}`,
    res.status,
    problem,
  );
}

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

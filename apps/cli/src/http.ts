import { MAX_JSON_DEPTH, nestingExceeds } from '@quittance/verifier';
import { MiB } from './inputs';

// The CLI's requests to a Quittance server (monitor, admin), bounded whatever the server does.

/**
 * The server could not be read: refused, reset, cut short, too slow, too large, or not JSON.
 * Exit status 2 in one line: it says nothing about the log.
 */
export class ServerUnreadable extends Error {
  override readonly name = 'ServerUnreadable';

  constructor(
    message: string,
    /** The HTTP status of an answer that was not 2xx, when that is what could not be used. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** More than any answer of the API: a page of 500 checkpoints is about half a megabyte. */
export const MAX_ANSWER_BYTES = 16 * MiB;
/** How long one request may take, answer included. */
export const REQUEST_TIMEOUT_MS = 30_000;

export interface Answer {
  status: number;
  ok: boolean;
  text: string;
}

/**
 * One request and its whole answer, within REQUEST_TIMEOUT_MS (and `signal`, when given) and
 * MAX_ANSWER_BYTES; any failure on the way is a ServerUnreadable that names the URL.
 */
export async function request(
  url: string,
  init: RequestInit & { signal?: AbortSignal } = {},
): Promise<Answer> {
  const signals = [AbortSignal.timeout(REQUEST_TIMEOUT_MS), ...(init.signal ? [init.signal] : [])];
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.any(signals) });
  } catch (error) {
    throw new ServerUnreadable(`cannot reach ${url}: ${whyFailed(error, signals)}`);
  }
  try {
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    const reader = response.body?.getReader();
    while (reader) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      if (bytes > MAX_ANSWER_BYTES) {
        await reader.cancel().catch(() => {});
        throw new ServerUnreadable(`${url} answered more than ${MAX_ANSWER_BYTES / MiB} MiB`);
      }
      chunks.push(value);
    }
    const text = new TextDecoder().decode(Buffer.concat(chunks));
    return { status: response.status, ok: response.ok, text };
  } catch (error) {
    if (error instanceof ServerUnreadable) throw error;
    throw new ServerUnreadable(`cannot read ${url}: ${whyFailed(error, signals)}`);
  }
}

/** Why a request failed, in words: fetch's own message ("fetch failed") hides the cause. */
function whyFailed(error: unknown, signals: AbortSignal[]): string {
  const [own, caller] = signals;
  if (own?.aborted) return `no whole answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  if (caller?.aborted) return printable(String((caller.reason as Error)?.message ?? caller.reason));
  const cause = (error as Error).cause as Error | undefined;
  return printable(cause?.message ?? (error as Error).message ?? String(error));
}

/** An answer's JSON, or a ServerUnreadable: not JSON, or nesting deeper than the verifier reads. */
export function jsonOf(url: string, answer: Answer): unknown {
  let value: unknown;
  try {
    value = JSON.parse(answer.text);
  } catch {
    throw new ServerUnreadable(`${url} did not answer JSON: ${printable(answer.text, 80)}`);
  }
  if (nestingExceeds(answer.text, MAX_JSON_DEPTH))
    throw new ServerUnreadable(`${url} answered JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  return value;
}

/**
 * Server text for one line of a terminal: control characters (escape sequences, newlines)
 * become spaces, and it is cut at `max` characters.
 */
export function printable(text: string, max = 200): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to remove them
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

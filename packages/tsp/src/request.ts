import * as asn1js from 'asn1js';
import { AlgorithmIdentifier, MessageImprint, TimeStampReq } from 'pkijs';
import { copyBytes, OID, positiveIntegerBytes } from './bytes';
import { TspError } from './errors';

/** A DER TimeStampReq together with what its response must echo back. */
export interface TimestampRequest {
  der: Uint8Array;
  nonce: bigint;
  imprint: Uint8Array;
}

export interface TimestampRequestOptions {
  /** Positive; a random 64-bit value when omitted. */
  nonce?: bigint;
  /** Ask the TSA to embed its certificate (default true: offline verification needs it). */
  certReq?: boolean;
  /** reqPolicy OID, dotted. */
  policy?: string;
}

export interface RequestTimestampOptions {
  /** Whole-exchange deadline, default 10 000 ms. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
// RFC 3161 §3.4 names application/timestamp-reply; some TSAs still answer with the name from
// the drafts, which carries the same DER.
const REPLY_TYPES = new Set(['application/timestamp-reply', 'application/timestamp-response']);

/**
 * Builds an RFC 3161 TimeStampReq over a SHA-256 digest.
 *
 * @param imprint - the 32-byte SHA-256 digest to time-stamp (not the data itself).
 * @param options - nonce (random positive 64-bit unless given), certReq (default true),
 *   reqPolicy.
 * @throws TspError `malformed` when the imprint is not 32 bytes or the nonce is not positive.
 */
export function createTimestampRequest(
  imprint: Uint8Array,
  options: TimestampRequestOptions = {},
): TimestampRequest {
  if (!(imprint instanceof Uint8Array) || imprint.length !== 32) {
    throw new TspError(
      'malformed',
      `imprint must be a 32-byte SHA-256 digest, got ${
        imprint instanceof Uint8Array ? `${imprint.length} bytes` : typeof imprint
      }`,
    );
  }
  const nonce = options.nonce ?? randomNonce();
  if (typeof nonce !== 'bigint' || nonce <= 0n) {
    throw new TspError('malformed', 'nonce must be a positive bigint');
  }
  const request = new TimeStampReq({
    version: 1,
    messageImprint: new MessageImprint({
      // NULL parameters, as OpenSSL and most TSA clients send them (RFC 5754 accepts both).
      hashAlgorithm: new AlgorithmIdentifier({
        algorithmId: OID.sha256,
        algorithmParams: new asn1js.Null(),
      }),
      hashedMessage: new asn1js.OctetString({ valueHex: copyBytes(imprint) }),
    }),
    nonce: new asn1js.Integer({ valueHex: positiveIntegerBytes(nonce) }),
    certReq: options.certReq ?? true,
    ...(options.policy === undefined ? {} : { reqPolicy: options.policy }),
  });
  return {
    der: new Uint8Array(request.toSchema().toBER()),
    nonce,
    imprint: copyBytes(imprint),
  };
}

/**
 * Sends a TimeStampReq to a TSA over HTTP (RFC 3161 §3.4) and returns the raw TimeStampResp
 * DER, unverified: pass it to {@link verifyTimestampResponse}.
 *
 * @throws TspError `tsa_unavailable` (retryable) on network errors, timeouts, non-2xx
 *   statuses and replies that are not `application/timestamp-reply`.
 */
export async function requestTimestamp(
  url: string,
  request: TimestampRequest,
  options: RequestTimestampOptions = {},
): Promise<Uint8Array> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const unavailable = (message: string, cause?: unknown) =>
    new TspError('tsa_unavailable', `${url}: ${message}`, { retryable: true, cause });
  let response: Response;
  let body: ArrayBuffer;
  try {
    // One signal for the request and the body read, so a TSA that trickles bytes still times out.
    const signal = AbortSignal.timeout(timeoutMs);
    response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/timestamp-query',
        accept: 'application/timestamp-reply',
      },
      body: request.der as Uint8Array<ArrayBuffer>,
      signal,
    });
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      throw unavailable(`HTTP ${response.status} ${response.statusText}`.trim());
    }
    const type = (response.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
    if (!type || !REPLY_TYPES.has(type)) {
      await response.body?.cancel().catch(() => undefined);
      throw unavailable(`reply content-type is '${type ?? ''}', not application/timestamp-reply`);
    }
    body = await response.arrayBuffer();
  } catch (error) {
    if (error instanceof TspError) throw error;
    const name = error instanceof Error ? error.name : '';
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw unavailable(`no reply within ${timeoutMs} ms`, error);
    }
    // undici reports every network failure as 'fetch failed'; the cause says which one.
    const cause = error instanceof Error ? error.cause : undefined;
    const reason =
      cause instanceof Error ? ((cause as { code?: string }).code ?? cause.message) : undefined;
    const detail = error instanceof Error ? error.message : String(error);
    throw unavailable(reason ? `${detail} (${reason})` : detail, error);
  }
  if (body.byteLength === 0) throw unavailable('empty reply body');
  return new Uint8Array(body);
}

function randomNonce(): bigint {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(8));
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  // Zero is the only 64-bit value that is not positive; astronomically rare, but cheap to rule out.
  return value === 0n ? 1n : value;
}

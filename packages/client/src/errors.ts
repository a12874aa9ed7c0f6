import type { components } from './openapi';

export type Problem = components['schemas']['Problem'];

/** Codes of the API's problem+json answers, plus what can go wrong before one arrives. */
export type QuittanceErrorCode =
  | 'invalid_json'
  | 'invalid_utf8'
  | 'duplicate_member'
  | 'json_too_deep'
  | 'invalid_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'not_checkpointed'
  | 'storage_full'
  | 'call_id_conflict'
  | 'export_not_ready'
  | 'bodies_destroyed'
  | 'body_too_large'
  | 'unsupported_media_type'
  | 'unsupported_content_encoding'
  | 'malformed_http'
  | 'signing_input_too_large'
  | 'service_unavailable'
  | 'signer_unavailable'
  | 'internal_error'
  | 'network_error'
  | 'timeout'
  | 'invalid_response'
  | 'invalid_receipt'
  | 'publisher_not_pinned'
  | 'export_failed'
  | (string & {});

/** The one error of the client: switch on `code`, read `problem` for the details. */
export class QuittanceError extends Error {
  override readonly name = 'QuittanceError';
  /** How long the service asked to wait before asking again (its Retry-After), if it did. */
  readonly retryAfterMs: number | undefined;
  constructor(
    readonly code: QuittanceErrorCode,
    message: string,
    readonly status?: number,
    readonly problem?: Problem,
    options: { cause?: unknown; retryAfterMs?: number } = {},
  ) {
    super(message, { cause: options.cause });
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Retry-After (RFC 9110 §10.2.3) in milliseconds: delay-seconds or an HTTP-date. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  // A date names its day and month in letters; Date.parse reads '-1' or '1.5' as dates too.
  if (!/[a-z]/i.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

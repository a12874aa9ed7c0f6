import type { FieldIssue } from '@quittance/format';

/** Stable error codes of the HTTP API and the status each maps to (ServiceError's among them). */
export const PROBLEMS = {
  invalid_json: { status: 400, title: 'Request body is not valid JSON' },
  invalid_utf8: { status: 400, title: 'Request body is not well-formed UTF-8' },
  duplicate_member: {
    status: 400,
    title: 'A member name appears twice in one JSON object (RFC 7493)',
  },
  json_too_deep: { status: 400, title: 'Request body nests more than 128 levels' },
  invalid_request: { status: 400, title: 'Request is not valid' },
  malformed_http: { status: 400, title: 'The HTTP request could not be parsed' },
  unauthorized: { status: 401, title: 'Missing, malformed or revoked credentials' },
  forbidden: { status: 403, title: 'This key may not do that' },
  not_found: { status: 404, title: 'Not found' },
  not_checkpointed: {
    status: 404,
    title: 'No signed checkpoint covers this receipt yet; retry after the next one',
  },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  request_timeout: { status: 408, title: 'The request was not received in time' },
  call_id_conflict: { status: 409, title: 'callId was already used with different content' },
  merchant_exists: { status: 409, title: 'A merchant with this id exists' },
  export_not_ready: { status: 409, title: 'The export is not built yet' },
  bodies_destroyed: { status: 410, title: 'Bodies were destroyed at the end of retention' },
  body_too_large: { status: 413, title: 'Request body is too large' },
  unsupported_media_type: { status: 415, title: 'Content-Type must be application/json' },
  unsupported_content_encoding: {
    status: 415,
    title: 'Request bodies are not decoded: send them without Content-Encoding (or identity)',
  },
  headers_too_large: { status: 431, title: 'Request line and headers exceed 16 KB' },
  unsupported_transfer_encoding: {
    status: 501,
    title: 'The only Transfer-Encoding understood is chunked',
  },
  http_version_not_supported: {
    status: 505,
    title: 'Only HTTP/1.1 (and HTTP/1.0) are spoken here',
  },
  expectation_failed: {
    status: 417,
    title: 'The only expectation honoured is Expect: 100-continue',
  },
  signing_input_too_large: {
    status: 422,
    title: 'Receipt would exceed the 4096-byte signing input',
  },
  order_too_large: {
    status: 422,
    title:
      'The order has more receipts than one answer holds: page through GET /receipts?orderId=, or export the order',
  },
  key_revoked: { status: 409, title: 'Signing key is already revoked' },
  signing_keys_changed: {
    status: 409,
    title: "The merchant's signing keys changed during this request; retry",
  },
  storage_full: { status: 503, title: 'The data folder is out of space; retry later' },
  service_unavailable: { status: 503, title: 'A dependency is unavailable; retry later' },
  signer_unavailable: {
    status: 503,
    title: 'The signing service (KMS) did not answer in time; retry later',
  },
  internal_error: { status: 500, title: 'Internal error' },
} as const;

export type ProblemCode = keyof typeof PROBLEMS;

/**
 * An HTTP problem: a code of {@link PROBLEMS} with its status; `app.onError` renders it as
 * problem+json. The HTTP layer throws it; services throw ServiceError, mapped to it in errors.ts.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;
  constructor(
    readonly code: ProblemCode,
    readonly detail?: string,
    readonly errors?: readonly FieldIssue[],
    options: { cause?: unknown; retryAfterSeconds?: number; challenge?: string } = {},
  ) {
    super(detail ?? PROBLEMS[code].title, { cause: options.cause });
    this.status = PROBLEMS[code].status;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.challenge = options.challenge;
  }
  readonly retryAfterSeconds: number | undefined;
  /** The `WWW-Authenticate` challenge of a 401 (RFC 9110 §11.6.1: a 401 MUST send one). */
  readonly challenge: string | undefined;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: ProblemCode;
  detail?: string;
  requestId?: string;
  errors?: readonly FieldIssue[];
}

/** RFC 9457 body; `type` points at the code's entry on the docs page. */
export function problemBody(error: ApiError, requestId: string | undefined): ProblemBody {
  const body: ProblemBody = {
    type: `/docs#problem-${error.code}`,
    title: PROBLEMS[error.code].title,
    status: error.status,
    code: error.code,
  };
  if (error.detail) body.detail = wellFormed(error.detail);
  if (requestId) body.requestId = requestId;
  if (error.errors?.length)
    body.errors = error.errors.map((issue) => ({
      ...issue,
      path: wellFormed(issue.path),
      message: wellFormed(issue.message),
    }));
  return body;
}

/**
 * Text that quotes the request (a member name, a value) with each lone surrogate as U+FFFD:
 * JSON.stringify writes one as `\ud800`, which parses back to a string that is not
 * well-formed Unicode (SPEC §1), so the answer would carry what the request was refused for.
 */
const wellFormed = (text: string): string => text.toWellFormed();

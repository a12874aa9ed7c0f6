import { BundleStoreError } from '@quittance/bundle-store';
import { FormatError } from '@quittance/format';
import { SignerError } from '@quittance/signer';
import { VaultError } from '@quittance/vault';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { describeError } from '../describe-error';
import { ServiceError } from '../service-error';
import type { AppEnv } from './env';
import { ApiError, problemBody } from './problem';

/** Maps anything thrown to an ApiError; what is not ours becomes a 500 or a 503. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof ServiceError) {
    return new ApiError(error.code, error.message, error.issues, {
      cause: error,
      retryAfterSeconds: error.retryAfterSeconds,
    });
  }
  if (error instanceof FormatError && error.code === 'not_i_json') {
    return new ApiError('invalid_request', error.message, error.issues);
  }
  if (error instanceof HTTPException) {
    if (error.status === 400)
      return new ApiError('invalid_json', 'the request body is not valid JSON');
    if (error.status === 413) return new ApiError('body_too_large');
    if (error.status === 415)
      return new ApiError(
        'unsupported_media_type',
        'Content-Type must be application/json, its parameters written as RFC 9110 §5.6.6 writes them',
      );
    if (error.status === 404) return new ApiError('not_found');
  }
  if (error instanceof SignerError && error.retryable) {
    return new ApiError('signer_unavailable', `SignerError: ${error.code}`, undefined, {
      cause: error,
      retryAfterSeconds: 1,
    });
  }
  if (error instanceof VaultError && error.retryable) {
    return new ApiError('service_unavailable', `VaultError: ${error.code}`, undefined, {
      cause: error,
      retryAfterSeconds: 1,
    });
  }
  // The exports service says these itself; this catches a store error from anywhere else.
  if (error instanceof BundleStoreError && error.code === 'not_found')
    return new ApiError('not_found', undefined, undefined, { cause: error });
  if (error instanceof BundleStoreError && error.retryable) {
    return new ApiError('service_unavailable', `BundleStoreError: ${error.code}`, undefined, {
      cause: error,
      retryAfterSeconds: BUNDLE_STORE_RETRY_S,
    });
  }
  // Before "unavailable": a full data folder is said as such, and retried later than a blip.
  if (isStorageFull(error)) {
    return new ApiError('storage_full', undefined, undefined, {
      cause: error,
      retryAfterSeconds: STORAGE_FULL_RETRY_S,
    });
  }
  if (isUnavailable(error)) {
    return new ApiError('service_unavailable', 'the database is unavailable', undefined, {
      cause: error,
      retryAfterSeconds: 1,
    });
  }
  return new ApiError('internal_error', undefined, undefined, { cause: error });
}

/** Socket and driver codes of a connection that failed, closed or timed out. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  // The embedded database aborted and is being reopened (packages/db/src/embedded.ts).
  'EMBEDDED_REOPENING',
]);

/** Seconds a client should wait while the bundle store (S3) cannot be reached. */
const BUNDLE_STORE_RETRY_S = 5;

/** Seconds a client should wait while the data folder is full: space comes back by a person. */
const STORAGE_FULL_RETRY_S = 5;

/**
 * Out of space, from any layer: SQLSTATE 53100 (disk_full: PostgreSQL or PGlite could not
 * extend a file), Node's ENOSPC (key files, bundles; also the embedded database's own
 * StorageFullError), and emscripten's ErrnoError 51 (its ENOSPC, which PGlite's file system
 * throws without a message).
 */
function isStorageFull(error: unknown): boolean {
  let current = error as { code?: unknown; cause?: unknown; name?: unknown; errno?: unknown };
  for (let depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    if (current.code === '53100' || current.code === 'ENOSPC') return true;
    if (current.name === 'ErrnoError' && current.errno === 51) return true;
    current = current.cause as typeof current;
  }
  return false;
}

/**
 * SQLSTATEs that mean "the database cannot do it now", not "this request is wrong": class 08
 * (connection exceptions), 57P01-57P05 (shutdown, crash, cannot connect now, ...), 53300 (too
 * many connections), 55P03 (lock timeout), 57014 (statement timeout), 25P03 (idle
 * transaction timeout), 40001/40P01 (serialization failure, deadlock).
 */
function isUnavailableState(code: string): boolean {
  return (
    code.startsWith('08') ||
    /^57P0[1-5]$/.test(code) ||
    ['53300', '55P03', '57014', '25P03', '40001', '40P01'].includes(code)
  );
}

/** Whether an error, or one of its causes, says the database is unavailable for now. */
function isUnavailable(error: unknown): boolean {
  let current = error as { code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    const code = current.code;
    if (typeof code === 'string' && (CONNECTION_CODES.has(code) || isUnavailableState(code)))
      return true;
    current = current.cause as typeof current;
  }
  return false;
}

/** app.onError: problem+json; unknown errors are logged with the request id, never returned. */
export function renderError(error: unknown, c: Context<AppEnv>) {
  const apiError = toApiError(error);
  const requestId = c.get('requestId');
  if (apiError.status >= 500) {
    c.get('logger')?.error(
      { err: describeError(apiError.cause ?? error), code: apiError.code },
      'request failed',
    );
  }
  if (apiError.retryAfterSeconds !== undefined)
    c.header('retry-after', String(apiError.retryAfterSeconds));
  if (apiError.challenge !== undefined) c.header('www-authenticate', apiError.challenge);
  return c.body(JSON.stringify(problemBody(apiError, requestId)), apiError.status as 400, {
    'content-type': 'application/problem+json',
  });
}

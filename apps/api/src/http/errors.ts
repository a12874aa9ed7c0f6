import { FormatError } from '@quittance/format';
import { SignerError } from '@quittance/signer';
import { VaultError } from '@quittance/vault';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { AppEnv } from '../env';
import { ApiError, problemBody } from './problem';

/** Maps anything thrown to an ApiError; what is not ours becomes a 500 or a 503. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof FormatError && error.code === 'not_i_json') {
    return new ApiError('invalid_request', error.message, error.issues);
  }
  if (error instanceof HTTPException) {
    if (error.status === 400)
      return new ApiError('invalid_json', 'the request body is not valid JSON');
    if (error.status === 413) return new ApiError('body_too_large');
    if (error.status === 415) return new ApiError('unsupported_media_type');
    if (error.status === 404) return new ApiError('not_found');
  }
  if ((error instanceof SignerError || error instanceof VaultError) && error.retryable) {
    return new ApiError('service_unavailable', `${error.name}: ${error.code}`, undefined, {
      cause: error,
      retryAfterSeconds: 1,
    });
  }
  if (isConnectionError(error)) {
    return new ApiError('service_unavailable', 'the database is unavailable', undefined, {
      cause: error,
      retryAfterSeconds: 1,
    });
  }
  return new ApiError('internal_error', undefined, undefined, { cause: error });
}

function isConnectionError(error: unknown): boolean {
  const code =
    (error as { code?: string; cause?: { code?: string } })?.code ??
    (error as { cause?: { code?: string } })?.cause?.code;
  return (
    code === 'ECONNREFUSED' ||
    code === 'CONNECTION_CLOSED' ||
    code === 'CONNECTION_ENDED' ||
    code === '57P01'
  );
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
  return c.body(JSON.stringify(problemBody(apiError, requestId)), apiError.status as 400, {
    'content-type': 'application/problem+json',
  });
}

/** Name, message, code and stack only: driver errors can carry query parameters (bodies). */
export function describeError(error: unknown) {
  const e = error as { name?: string; message?: string; code?: string; stack?: string };
  return { name: e?.name, message: e?.message, code: e?.code, stack: e?.stack };
}

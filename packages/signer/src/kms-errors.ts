import { SignerError } from './errors';

const THROTTLING = new Set([
  'ThrottlingException',
  'LimitExceededException',
  'TooManyRequestsException',
]);
const TRANSIENT = new Set([
  'KMSInternalException',
  'DependencyTimeoutException',
  'KeyUnavailableException',
  'ServiceUnavailableException',
  'InternalFailure',
  'TimeoutError',
  'RequestTimeout',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Maps an AWS SDK error to a typed {@link SignerError}, keeping the original as `cause`. */
export function toSignerError(error: unknown, action: string): SignerError {
  if (error instanceof SignerError) return error;
  const e = error as {
    name?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const name = e?.name ?? 'Error';
  const detail = `${action}: ${name}${e?.message ? `: ${e.message}` : ''}`;
  if (THROTTLING.has(name))
    return new SignerError('throttled', detail, { retryable: true, cause: error });
  if (TRANSIENT.has(name))
    return new SignerError('unavailable', detail, { retryable: true, cause: error });
  if (name === 'NotFoundException')
    return new SignerError('key_not_found', detail, { cause: error });
  if (name === 'DisabledException' || name === 'KMSInvalidStateException') {
    return new SignerError('key_disabled', detail, { cause: error });
  }
  if (name === 'AccessDeniedException' || name === 'UnrecognizedClientException') {
    return new SignerError('access_denied', detail, { cause: error });
  }
  if (name === 'InvalidKeyUsageException' || name === 'UnsupportedOperationException') {
    return new SignerError('invalid_key', detail, { cause: error });
  }
  const status = e?.$metadata?.httpStatusCode;
  if ((e?.code && NETWORK_CODES.has(e.code)) || status === undefined || status >= 500) {
    return new SignerError('unavailable', detail, { retryable: true, cause: error });
  }
  return new SignerError('kms_error', detail, { cause: error });
}

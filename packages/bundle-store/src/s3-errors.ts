import { BundleStoreError } from './errors';

const NOT_FOUND = new Set(['NoSuchKey', 'NotFound']);
const MISCONFIGURED = new Set([
  'AccessDenied',
  'Forbidden',
  'NoSuchBucket',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidArgument',
  'KMS.NotFoundException',
  'KMS.DisabledException',
  'PermanentRedirect',
  'AuthorizationHeaderMalformed',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/**
 * Maps an AWS SDK error (after the SDK's own retries) to a {@link BundleStoreError}, keeping
 * the original as `cause`: a missing object is `not_found`, a refusal that retrying cannot
 * fix is `store_misconfigured`, and everything else (network, deadline, 5xx, throttling) is
 * `store_unavailable`.
 */
export function toStoreError(error: unknown, action: string): BundleStoreError {
  if (error instanceof BundleStoreError) return error;
  const e = error as {
    name?: string;
    Code?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const name = e?.name ?? 'Error';
  const status = e?.$metadata?.httpStatusCode;
  const detail = `${action}: ${name}${e?.message ? `: ${e.message}` : ''}`;
  if (NOT_FOUND.has(name) || status === 404) {
    // A missing bucket is a configuration error, not a missing bundle.
    if (name === 'NoSuchBucket' || e?.Code === 'NoSuchBucket')
      return new BundleStoreError('store_misconfigured', detail, { cause: error });
    return new BundleStoreError('not_found', detail, { cause: error });
  }
  if (e?.code && NETWORK_CODES.has(e.code))
    return new BundleStoreError('store_unavailable', detail, { cause: error });
  if (MISCONFIGURED.has(name) || status === 400 || status === 401 || status === 403)
    return new BundleStoreError('store_misconfigured', detail, { cause: error });
  return new BundleStoreError('store_unavailable', detail, { cause: error });
}

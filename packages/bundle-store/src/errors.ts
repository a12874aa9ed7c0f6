export type BundleStoreErrorCode =
  /** `QUITTANCE_BUNDLE_STORE` or a companion variable is malformed. */
  | 'invalid_config'
  /** A key the store does not accept (see `assertBundleKey`). */
  | 'invalid_key'
  /** No bundle at that key. */
  | 'not_found'
  /** The store cannot be reached or answers 5xx, throttles or times out: try again later. */
  | 'store_unavailable'
  /** The store refuses: credentials, permissions, missing bucket, encryption settings. */
  | 'store_misconfigured'
  /** A write that did not finish (aborted, its stream failed, or committed too early). */
  | 'write_incomplete';

/** The one error class of the bundle store. `retryable` tells jobs whether to try again. */
export class BundleStoreError extends Error {
  override readonly name = 'BundleStoreError';
  readonly code: BundleStoreErrorCode;
  readonly retryable: boolean;

  constructor(code: BundleStoreErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.retryable = code === 'store_unavailable' || code === 'write_incomplete';
  }
}

/** True for a {@link BundleStoreError} with that code. */
export function isBundleStoreError(
  error: unknown,
  code?: BundleStoreErrorCode,
): error is BundleStoreError {
  return error instanceof BundleStoreError && (code === undefined || error.code === code);
}

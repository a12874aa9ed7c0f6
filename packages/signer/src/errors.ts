export type SignerErrorCode =
  | 'message_too_large'
  | 'invalid_signature'
  | 'invalid_key'
  | 'key_not_found'
  | 'key_disabled'
  | 'access_denied'
  | 'throttled'
  | 'unavailable'
  | 'kms_error'
  | 'key_file';

/** The one error class of the signer package. `retryable` tells jobs and callers what to do. */
export class SignerError extends Error {
  override readonly name = 'SignerError';
  readonly code: SignerErrorCode;
  readonly retryable: boolean;

  constructor(
    code: SignerErrorCode,
    message: string,
    options: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

export type VaultErrorCode =
  | 'key_destroyed'
  | 'decrypt_failed'
  | 'unwrap_failed'
  | 'wrapper_unavailable'
  | 'key_file';

/** The one error class of the vault package. */
export class VaultError extends Error {
  override readonly name = 'VaultError';
  constructor(
    readonly code: VaultErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean } = {},
  ) {
    super(message, { cause: options.cause });
    this.retryable = options.retryable ?? false;
  }
  readonly retryable: boolean;
}

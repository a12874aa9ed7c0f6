/** Stable codes callers can switch on. */
export type TspErrorCode =
  | 'tsa_unavailable'
  | 'malformed'
  | 'not_granted'
  | 'imprint_mismatch'
  | 'nonce_mismatch'
  | 'bad_signature'
  | 'untrusted_chain'
  | 'bad_eku'
  | 'ess_mismatch'
  | 'gentime_out_of_window';

/**
 * The one error class of the tsp package. `retryable` is true only for transport failures
 * (`tsa_unavailable`): a token that fails verification will fail again.
 */
export class TspError extends Error {
  override readonly name = 'TspError';
  readonly code: TspErrorCode;
  readonly retryable: boolean;

  constructor(
    code: TspErrorCode,
    message: string,
    options: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

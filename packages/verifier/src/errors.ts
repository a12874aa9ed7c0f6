export type VerifierErrorCode = 'invalid_key_set' | 'invalid_publisher';

/** Thrown only for unusable inputs; everything about the evidence itself is a claim. */
export class VerifierError extends Error {
  override readonly name = 'VerifierError';
  constructor(
    readonly code: VerifierErrorCode,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
  }
}

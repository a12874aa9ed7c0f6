/** Stable codes callers can switch on. */
export type FormatErrorCode =
  | 'not_i_json'
  | 'invalid_receipt'
  | 'invalid_issue_request'
  | 'invalid_jws'
  | 'signing_input_too_large';

/** One problem with one field; validation reports all of them at once. */
export interface FieldIssue {
  /** JSON-pointer-like path, e.g. `/trust_provider_assertions/0`. */
  readonly path: string;
  readonly code: FieldIssueCode;
  readonly message: string;
}

export type FieldIssueCode =
  | 'required'
  | 'invalid_type'
  | 'invalid_format'
  | 'too_long'
  | 'too_short'
  | 'unknown_member'
  | 'not_i_json'
  | 'conflict';

/** The one error class of the format package. */
export class FormatError extends Error {
  override readonly name = 'FormatError';
  readonly code: FormatErrorCode;
  readonly issues: readonly FieldIssue[];

  constructor(
    code: FormatErrorCode,
    message: string,
    options: { issues?: readonly FieldIssue[]; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.issues = options.issues ?? [];
  }
}

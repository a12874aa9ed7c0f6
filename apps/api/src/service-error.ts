import type { FieldIssue } from '@quittance/format';

/**
 * What the service refuses or cannot do, whoever called it (a route, a job, the CLI). The
 * codes are the problem codes the HTTP API answers with; the HTTP layer alone turns them into
 * statuses and headers (http/problem.ts).
 */
export type ServiceErrorCode =
  | 'invalid_request'
  | 'forbidden'
  | 'not_found'
  | 'not_checkpointed'
  | 'call_id_conflict'
  | 'merchant_exists'
  | 'key_revoked'
  | 'signing_keys_changed'
  | 'export_not_ready'
  | 'bodies_destroyed'
  | 'signing_input_too_large'
  | 'order_too_large'
  | 'service_unavailable';

/** The one error class of the service, with a code callers can switch on. */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  readonly code: ServiceErrorCode;
  /** Every invalid field, when the input was invalid. */
  readonly issues: readonly FieldIssue[];
  /** How soon trying again may succeed, when the refusal is temporary. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ServiceErrorCode,
    message: string,
    options: { issues?: readonly FieldIssue[]; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.issues = options.issues ?? [];
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

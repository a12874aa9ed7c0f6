import type { components } from './openapi';

export type Problem = components['schemas']['Problem'];

/** Codes of the API's problem+json answers, plus what can go wrong before one arrives. */
export type QuittanceErrorCode =
  | 'invalid_json'
  | 'invalid_utf8'
  | 'duplicate_member'
  | 'json_too_deep'
  | 'invalid_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'not_checkpointed'
  | 'storage_full'
  | 'call_id_conflict'
  | 'export_not_ready'
  | 'bodies_destroyed'
  | 'body_too_large'
  | 'unsupported_media_type'
  | 'unsupported_content_encoding'
  | 'malformed_http'
  | 'signing_input_too_large'
  | 'service_unavailable'
  | 'signer_unavailable'
  | 'internal_error'
  | 'network_error'
  | 'timeout'
  | (string & {});

/** The one error of the client: switch on `code`, read `problem` for the details. */
export class QuittanceError extends Error {
  override readonly name = 'QuittanceError';
  constructor(
    readonly code: QuittanceErrorCode,
    message: string,
    readonly status?: number,
    readonly problem?: Problem,
    options: { cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
  }
}

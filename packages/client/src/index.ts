export type { BundleVerification, ReceiptReport } from '@quittance/verifier';
export { BundleError } from '@quittance/verifier';
export type {
  ClientOptions,
  Export,
  ExportRequest,
  InclusionProof,
  IssueRequest,
} from './client';
export { QuittanceClient } from './client';
export type { Problem, QuittanceErrorCode } from './errors';
export { QuittanceError } from './errors';
export type { components, paths } from './openapi';

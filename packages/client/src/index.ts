export type { Receipt } from '@quittance/format';
export type { BundleVerification, ReceiptReport } from '@quittance/verifier';
// What the verifier throws: an unreadable bundle, a publisher pin that is not a key set.
export { BundleError, VerifierError } from '@quittance/verifier';
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

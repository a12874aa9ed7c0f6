export type {
  Claim,
  ClaimSource,
  ClaimStatus,
  ReceiptClaims,
  ReceiptReport,
  VerificationReport,
} from './claims';
export { asserted, isRefuted, refuted, toReport, unknown } from './claims';
export type { Ed25519Jwk } from './ed25519';
export { isEd25519Jwk, KeyCache, verifyJwsSignature } from './ed25519';
export type { VerifierErrorCode } from './errors';
export { VerifierError } from './errors';
export type { HistoryKey, KeyHistory, PublisherKeys } from './key-history';
export { loadKeyHistory, parsePublisherKeys } from './key-history';
export type { CheckpointClaims, CheckpointReport } from './verify-checkpoint';
export { verifyCheckpoint } from './verify-checkpoint';
export type {
  InclusionOptions,
  InclusionResult,
  InclusionSubject,
} from './verify-inclusion';
export { checkInclusion } from './verify-inclusion';
export type { SignedEvidence, VerifyReceiptOptions } from './verify-receipt';
export { isKeyHistory, verifyReceipt } from './verify-receipt';

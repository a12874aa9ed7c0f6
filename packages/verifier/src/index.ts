export type { BundleErrorCode } from './bundle/errors';
export { BundleError } from './bundle/errors';
export { duplicateMemberProblem, MAX_JSON_DEPTH, nestingExceeds } from './bundle/json';
export type {
  ChainEntry,
  EvidenceManifest,
  Jurisdiction,
  LogFrontier,
  Manifest,
  ManifestFile,
  ProofLine,
} from './bundle/layout';
export { EVIDENCE_KIND, FILES, JURISDICTIONS, snapshotPath } from './bundle/layout';
export type { BundleLimits } from './bundle/limits';
export { DEFAULT_LIMITS, LINE_BYTES, TSA_LIMITS, WHOLE_FILE_BYTES } from './bundle/limits';
export type { BundleKind } from './bundle/manifest';
export { BundleReportJson } from './bundle/report-json';
export type {
  BundleInput,
  BundleProgress,
  BundleStep,
  BundleVerification,
  BundleVerificationOptions,
} from './bundle/verify-bundle';
export { openZip, verifyBundle } from './bundle/verify-bundle';
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
export { isKeyHistory, loadKeyHistory, parsePublisherKeys } from './key-history';
export type { ExistenceProof, SignatureOutcome, SignedEvidence } from './signed-evidence';
export type { CheckpointClaims, CheckpointReport } from './verify-checkpoint';
export { verifyCheckpoint } from './verify-checkpoint';
export type {
  InclusionOptions,
  InclusionResult,
  InclusionSubject,
} from './verify-inclusion';
export { checkInclusion } from './verify-inclusion';
export type { VerifyReceiptOptions } from './verify-receipt';
export { verifyReceipt } from './verify-receipt';
export type { ReceiptsFileProblem, VerifyReceiptsOptions } from './verify-receipts';
export {
  MAX_RECEIPTS_IN_FILE,
  parseReceipts,
  ReceiptsFileError,
  verifyReceipts,
} from './verify-receipts';
export type { ByteSource } from './zip/portable-zip';
export { byteSourceOf, PortableZipReader } from './zip/portable-zip';
export type { ZipEntryInfo, ZipReader } from './zip/zip-reader';

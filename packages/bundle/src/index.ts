export type { BundleErrorCode } from './errors';
export { BundleError } from './errors';
export type {
  BodyLine,
  ChainEntry,
  EvidenceManifest,
  Jurisdiction,
  LogFrontier,
  Manifest,
  ManifestFile,
  ProofLine,
} from './layout';
export {
  EVIDENCE_KIND,
  FILES,
  JURISDICTIONS,
  RETENTION,
  snapshotPath,
  tsaPath,
} from './layout';
export type { BundleLimits } from './limits';
export {
  DEFAULT_LIMITS,
  LINE_BYTES,
  MAX_JSON_DEPTH,
  nestingExceeds,
  TSA_LIMITS,
  WHOLE_FILE_BYTES,
} from './limits';
export { BundleReader } from './reader';
export type { BundleVerification, BundleVerificationOptions } from './verify-bundle';
export { verifyBundle } from './verify-bundle';
export { evidenceMarkdown, verifyMarkdown } from './verify-md';
export type {
  BundleHeader,
  BundleSource,
  EvidenceContent,
  EvidenceHeader,
  EvidenceProof,
  EvidenceWriteResult,
  ReceiptLine,
  SourceBodies,
  WriteResult,
} from './writer';
export {
  snapshotPeriods,
  toReceiptLine,
  writeBundle,
  writeEvidenceBundle,
} from './writer';

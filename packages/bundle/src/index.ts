export type { BundleErrorCode } from './errors';
export { BundleError } from './errors';
export type { BodyLine, ChainEntry, Jurisdiction, Manifest, ManifestFile } from './layout';
export { FILES, JURISDICTIONS, RETENTION, snapshotPath, tsaPath } from './layout';
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
export { verifyMarkdown } from './verify-md';
export type { BundleHeader, BundleSource, ReceiptLine, SourceBodies, WriteResult } from './writer';
export { toReceiptLine, writeBundle } from './writer';

export type { ChainEntry, Jurisdiction, Manifest, ManifestFile } from './layout';
export {
  bodyPath,
  FILES,
  JURISDICTIONS,
  RETENTION,
  snapshotPath,
  tsaPath,
} from './layout';
export { BundleReader } from './reader';
export type { BundleVerification, BundleVerificationOptions } from './verify-bundle';
export { BundleError, verifyBundle } from './verify-bundle';
export { verifyMarkdown } from './verify-md';
export type { BundleHeader, BundleSource, ReceiptLine, WriteResult } from './writer';
export { toReceiptLine, writeBundle } from './writer';

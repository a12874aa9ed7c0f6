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

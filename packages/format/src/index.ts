export type { ChainLinkProblem } from './chain';
export { chainLinkProblems, receiptChainEntry } from './chain';
export {
  asciiBytes,
  base64url,
  base64urlPortable,
  concatBytes,
  fromBase64,
  fromBase64url,
  fromHex,
  fromUtf8,
  toBase64,
  toHex,
  utf8,
} from './encoding';
export type { FieldIssue, FieldIssueCode, FormatErrorCode } from './errors';
export { FormatError } from './errors';
export { sha256Hex } from './hash';
export { newId, randomBytes, ulid } from './ids';
export type { JsonValue } from './jcs';
export {
  canonicalBytes,
  canonicalJson,
  findNonIJson,
  hasLoneSurrogate,
  isIJson,
  notIJson,
} from './jcs';
export type { JwsHeader, JwsType, ParsedDetachedJws, SigningPlan } from './jws';
export {
  assertSigningInputSize,
  attachPayload,
  detachedJws,
  digestPayloadB64,
  digestStatement,
  headerProblem,
  JWS_TYPES,
  MAX_SIGNING_INPUT_BYTES,
  parseDetachedJws,
  planDigestSignature,
  planSignature,
  rebuildSigningInput,
  withoutMembers,
} from './jws';
export type {
  Checkpoint,
  ConsistencyProof,
  InclusionProof,
  JwksSnapshot,
  KeyStatus,
  OkpPublicJwk,
  RevocationClaims,
  SnapshotKey,
} from './keys';
export {
  CHECKPOINT_ENVELOPE,
  checkpointSignedPart,
  isKid,
  KEY_STATUSES,
  kidFor,
  planCheckpointSignature,
  planSnapshotSignature,
  publisherKid,
  snapshotHash,
  snapshotSignedPart,
} from './keys';
export type { ConsistencyInput, InclusionInput, MerkleCheck, RangeRoot } from './merkle';
export {
  appendToFrontier,
  consistencyPath,
  consistencyProof,
  inclusionPath,
  inclusionProof,
  MAX_PROOF_HASHES,
  merkleFrontier,
  merkleLeafHash,
  merkleNodeHash,
  merkleRoot,
  popcount,
  rootFromFrontier,
  splitPoint,
  verifyConsistency,
  verifyInclusion,
} from './merkle';
export {
  isPeriod,
  periodOf,
  periodOfSnapshotFile,
  periodOfSnapshotUrl,
  snapshotUrlPath,
} from './period';
export type { ChainEntryInput, ReceiptClaimsInput } from './receipt';
export {
  bodyHash,
  buildSignedReceipt,
  entryHash,
  GENESIS_HASH,
  planReceiptSignature,
  receiptHash,
  receiptHashOf,
  signedPart,
} from './receipt';
export type { Jurisdiction } from './retention';
export { isJurisdiction, JURISDICTIONS, RETENTION_YEARS, retentionStart } from './retention';
export type { IssueRequestMember } from './rules';
export {
  DECIMAL_INTEGER_PATTERN,
  DETACHED_JWS_PATTERN,
  decimalIntegerIn,
  HASH_PATTERN,
  IDENTIFIER_MAX_LENGTH,
  IDENTIFIER_PATTERN,
  isAbsoluteHttpUrl,
  isHash,
  isIdentifier,
  isRfc3339,
  issueRequestContentIssues,
  isTimestampMs,
  KID_PATTERN,
  MAX_ASSERTIONS,
  MAX_TIMER_MS,
  NONCE_MAX_LENGTH,
  NONCE_PATTERN,
  OID_PATTERN,
  RECEIPT_ID_PATTERN,
  rfc3339Millis,
  toTimestampMs,
} from './rules';
export { earliestGenTime, GEN_TIME_GRACE_MS, timestampImprint } from './timestamp';
export type {
  Bucket,
  ChainLink,
  IssueRequest,
  LegalPosture,
  Receipt,
  ReceiptEnvelope,
  ReceiptTimestamp,
  SignedReceipt,
} from './types';
export { BUCKETS, ENVELOPE_MEMBERS, LEGAL_POSTURES } from './types';
export type { Validation } from './validate';
export {
  assertIssueRequest,
  assertReceipt,
  summarize,
  validateCheckpoint,
  validateInclusionProof,
  validateIssueRequest,
  validateReceipt,
} from './validate';

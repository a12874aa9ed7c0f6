import { type FieldIssue, type FieldIssueCode, FormatError } from './errors';
import { findNonIJson } from './jcs';
import type { Checkpoint, InclusionProof } from './keys';
import { MAX_PROOF_HASHES } from './merkle';
import {
  DETACHED_JWS_PATTERN,
  HASH_PATTERN,
  IDENTIFIER_MAX_LENGTH,
  IDENTIFIER_PATTERN,
  ISSUE_REQUEST_MEMBERS,
  isAbsoluteHttpUrl,
  isRfc3339,
  issueRequestContentIssues,
  isTimestampMs,
  KID_PATTERN,
  MAX_ASSERTIONS,
  NONCE_MAX_LENGTH,
  NONCE_PATTERN,
  OID_PATTERN,
  RECEIPT_ID_PATTERN,
} from './rules';
import {
  BUCKETS,
  type IssueRequest,
  LEGAL_POSTURES,
  type Receipt,
  type ReceiptEnvelope,
  type SignedReceipt,
} from './types';

export type Validation<T> = { ok: true; value: T } | { ok: false; issues: FieldIssue[] };

/** The one issue of a value that is not an object at all. */
function notAnObject(what: string): Validation<never> {
  return {
    ok: false,
    issues: [{ path: '', code: 'invalid_type', message: `${what} must be a JSON object` }],
  };
}

/** Collects every problem of one object so that callers can report them all at once. */
class Checker {
  readonly issues: FieldIssue[] = [];
  constructor(readonly object: Record<string, unknown>) {}

  add(path: string, code: FieldIssueCode, message: string): void {
    this.issues.push({ path, code, message });
  }

  has(name: string): boolean {
    return Object.hasOwn(this.object, name);
  }

  /** Checks a string member against a pattern; `required` false skips an absent member. */
  string(
    name: string,
    pattern: RegExp,
    rule: string,
    opts: { required?: boolean; max?: number } = {},
  ) {
    const required = opts.required ?? true;
    if (!this.has(name)) {
      if (required) this.add(`/${name}`, 'required', `${name} is required`);
      return;
    }
    const value = this.object[name];
    if (typeof value !== 'string') {
      this.add(`/${name}`, 'invalid_type', `${name} must be a string`);
    } else if (value.length === 0) {
      this.add(`/${name}`, 'too_short', `${name} must not be empty`);
    } else if (opts.max !== undefined && value.length > opts.max) {
      this.add(`/${name}`, 'too_long', `${name} must be at most ${opts.max} characters`);
    } else if (!pattern.test(value)) {
      this.add(`/${name}`, 'invalid_format', `${name} must be ${rule}`);
    }
  }

  oneOf(name: string, allowed: readonly string[]) {
    if (!this.has(name)) return this.add(`/${name}`, 'required', `${name} is required`);
    const value = this.object[name];
    if (typeof value !== 'string') {
      this.add(`/${name}`, 'invalid_type', `${name} must be a string`);
    } else if (!allowed.includes(value)) {
      this.add(`/${name}`, 'invalid_format', `${name} must be one of ${allowed.join(', ')}`);
    }
  }

  predicate(name: string, test: (v: unknown) => boolean, rule: string, required = true) {
    if (!this.has(name)) {
      if (required) this.add(`/${name}`, 'required', `${name} is required`);
      return;
    }
    const value = this.object[name];
    if (typeof value !== 'string') this.add(`/${name}`, 'invalid_type', `${name} must be a string`);
    else if (!test(value)) this.add(`/${name}`, 'invalid_format', `${name} must be ${rule}`);
  }

  onlyKnown(known: readonly string[]) {
    for (const name of Object.keys(this.object)) {
      if (!known.includes(name)) this.add(`/${name}`, 'unknown_member', `${name} is not allowed`);
    }
  }

  assertions(name: string) {
    if (!this.has(name)) return;
    const value = this.object[name];
    if (!Array.isArray(value)) {
      return this.add(`/${name}`, 'invalid_type', `${name} must be an array of objects`);
    }
    if (value.length > MAX_ASSERTIONS) {
      this.add(`/${name}`, 'too_long', `${name} must have at most ${MAX_ASSERTIONS} items`);
    }
    value.forEach((item, i) => {
      if (item === null || typeof item !== 'object' || Array.isArray(item)) {
        this.add(`/${name}/${i}`, 'invalid_type', `${name}[${i}] must be an object`);
      }
    });
  }

  iJson(name: string) {
    if (!this.has(name)) return;
    const problem = findNonIJson(this.object[name], `/${name}`);
    if (problem) this.add(problem.split(':')[0] as string, 'not_i_json', `not I-JSON: ${problem}`);
  }
}

const IDENTIFIER_RULE = `1-${IDENTIFIER_MAX_LENGTH} characters of [A-Za-z0-9._:~-]`;
const NONCE_RULE = `1-${NONCE_MAX_LENGTH} printable ASCII characters`;
const HASH_RULE = '64 lowercase hexadecimal characters (SHA-256)';

function asObject(value: unknown): Record<string, unknown> | null {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

/**
 * Validates an issue request of SPEC §8, reporting every bad field at once. The same rules as
 * the API's request schema (apps/api http/schemas.ts), which takes them from rules.ts.
 */
export function validateIssueRequest(value: unknown): Validation<IssueRequest> {
  const object = asObject(value);
  if (!object) return notAnObject('body');
  const c = new Checker(object);
  c.onlyKnown(ISSUE_REQUEST_MEMBERS);
  for (const name of ['callId', 'agentId', 'tool'] as const) {
    c.string(name, IDENTIFIER_PATTERN, IDENTIFIER_RULE, { max: IDENTIFIER_MAX_LENGTH });
  }
  c.string('orderId', IDENTIFIER_PATTERN, IDENTIFIER_RULE, {
    required: false,
    max: IDENTIFIER_MAX_LENGTH,
  });
  c.string('nonce', NONCE_PATTERN, NONCE_RULE, { required: false, max: NONCE_MAX_LENGTH });
  c.oneOf('bucket', BUCKETS);
  c.assertions('trust_provider_assertions');
  c.iJson('trust_provider_assertions');

  const content = issueRequestContentIssues((member) => c.has(member));
  c.issues.push(...content);
  if (content.every((issue) => issue.code !== 'conflict')) {
    // The members present of the pair sent: hashes in their form, bodies as I-JSON.
    c.string('inputHash', HASH_PATTERN, HASH_RULE, { required: false });
    c.string('outputHash', HASH_PATTERN, HASH_RULE, { required: false });
    c.iJson('input');
    c.iJson('output');
  }
  return c.issues.length
    ? { ok: false, issues: c.issues }
    : { ok: true, value: object as unknown as IssueRequest };
}

const RECEIPT_MEMBERS = [
  'schemaVersion',
  'id',
  'merchantId',
  'callId',
  'agentId',
  'orderId',
  'bucket',
  'tool',
  'inputHash',
  'outputHash',
  'createdAt',
  'signingKeyKid',
  'jwksSnapshotUrl',
  'nonce',
  'trust_provider_assertions',
  'jws',
  'legal_posture',
  'timestamp',
  'chain',
] as const;

export interface ReceiptValidationOptions {
  /**
   * `required` (the default): a full receipt as the API returns it and a bundle carries it.
   * `optional`: SPEC 1.1 §1, a receipt handed on without some or all of its envelope; each
   * envelope member is checked only when present, so that a verifier decides the claims
   * from what it was given (issues keep the member's path, e.g. `/chain/seq`).
   */
  envelope?: 'required' | 'optional';
}

/** A receipt whose envelope members may be absent (SPEC 1.1 §1). */
export type ReceiptWithOptionalEnvelope = SignedReceipt & Partial<ReceiptEnvelope>;

/**
 * Validates a receipt against SPEC §1: its signed members and (see
 * {@link ReceiptValidationOptions}) its envelope. Every issue carries the path of the member
 * it is about, so that a verifier can tell which claim it is evidence against.
 */
export function validateReceipt(value: unknown): Validation<Receipt>;
export function validateReceipt(
  value: unknown,
  options: ReceiptValidationOptions & { envelope: 'optional' },
): Validation<ReceiptWithOptionalEnvelope>;
export function validateReceipt(
  value: unknown,
  options?: ReceiptValidationOptions,
): Validation<Receipt> | Validation<ReceiptWithOptionalEnvelope>;
export function validateReceipt(
  value: unknown,
  options: ReceiptValidationOptions = {},
): Validation<Receipt> | Validation<ReceiptWithOptionalEnvelope> {
  const object = asObject(value);
  if (!object) return notAnObject('receipt');
  const envelopeRequired = (options.envelope ?? 'required') === 'required';
  const c = new Checker(object);
  c.onlyKnown(RECEIPT_MEMBERS);
  c.oneOf('schemaVersion', ['1']);
  c.string('id', RECEIPT_ID_PATTERN, '"trcpt_" followed by a ULID');
  for (const name of ['merchantId', 'callId', 'agentId', 'tool'] as const) {
    c.string(name, IDENTIFIER_PATTERN, IDENTIFIER_RULE, { max: IDENTIFIER_MAX_LENGTH });
  }
  c.string('orderId', IDENTIFIER_PATTERN, IDENTIFIER_RULE, {
    required: false,
    max: IDENTIFIER_MAX_LENGTH,
  });
  c.string('nonce', NONCE_PATTERN, NONCE_RULE, { required: false, max: NONCE_MAX_LENGTH });
  c.oneOf('bucket', BUCKETS);
  c.string('inputHash', HASH_PATTERN, HASH_RULE);
  c.string('outputHash', HASH_PATTERN, HASH_RULE);
  c.predicate('createdAt', isTimestampMs, 'an RFC 3339 UTC time with milliseconds and Z');
  // Only the kid's form is a format rule. Whether the key belongs to the receipt's merchant
  // is decided by the key history (SPEC §5: the key's merchantId equals the receipt's), so a
  // kid of another merchant is a key-validity failure, not a malformed receipt (conformance
  // vector cross-merchant-key: signature_valid asserted, key_valid_at_issuance refuted).
  c.string('signingKeyKid', KID_PATTERN, '<merchantId>-<YYYY>Q<n>[-<k>]');
  c.predicate('jwksSnapshotUrl', isAbsoluteHttpUrl, 'an absolute http(s) URL');
  c.assertions('trust_provider_assertions');
  c.iJson('trust_provider_assertions');

  // Envelope members (SPEC 1.1 §1): with `envelope: 'optional'` an absent one is no issue.
  if (envelopeRequired || c.has('jws'))
    c.string('jws', DETACHED_JWS_PATTERN, 'a detached compact JWS (header..signature)');
  if (envelopeRequired || c.has('legal_posture')) c.oneOf('legal_posture', LEGAL_POSTURES);
  if (envelopeRequired || c.has('timestamp')) checkTimestamp(c);
  if (envelopeRequired || c.has('chain')) checkChain(c);
  if (c.issues.length) return { ok: false, issues: c.issues };
  return envelopeRequired
    ? { ok: true, value: object as unknown as Receipt }
    : { ok: true, value: object as unknown as ReceiptWithOptionalEnvelope };
}

function checkTimestamp(c: Checker) {
  if (!c.has('timestamp'))
    return c.add('/timestamp', 'required', 'timestamp is required (null when none)');
  const ts = c.object.timestamp;
  const posture = c.object.legal_posture;
  if (ts === null) {
    if (posture === 'ades_candidate_timestamped') {
      c.add('/timestamp', 'conflict', 'a timestamped posture needs a timestamp');
    }
    return;
  }
  const object = asObject(ts);
  if (!object) return c.add('/timestamp', 'invalid_type', 'timestamp must be an object or null');
  if (posture === 'signed')
    c.add('/legal_posture', 'conflict', 'a timestamped receipt is not "signed"');
  const inner = new Checker(object);
  inner.onlyKnown(['token', 'genTime', 'tsa', 'policy']);
  inner.string('token', /^[A-Za-z0-9+/]+={0,2}$/, 'base64 DER');
  inner.predicate('genTime', isRfc3339, 'an RFC 3339 time');
  inner.string('tsa', /^[\s\S]+$/, 'the TSA subject');
  inner.string('policy', OID_PATTERN, 'an OID');
  for (const issue of inner.issues) c.issues.push({ ...issue, path: `/timestamp${issue.path}` });
}

function checkChain(c: Checker) {
  if (!c.has('chain')) return c.add('/chain', 'required', 'chain is required');
  const object = asObject(c.object.chain);
  if (!object) return c.add('/chain', 'invalid_type', 'chain must be an object');
  const inner = new Checker(object);
  inner.onlyKnown(['seq', 'prevHash', 'entryHash']);
  const seq = object.seq;
  if (!Number.isSafeInteger(seq) || (seq as number) < 1) {
    inner.add('/seq', 'invalid_type', 'seq must be a positive integer');
  }
  inner.string('prevHash', HASH_PATTERN, HASH_RULE);
  inner.string('entryHash', HASH_PATTERN, HASH_RULE);
  for (const issue of inner.issues) c.issues.push({ ...issue, path: `/chain${issue.path}` });
}

/** Throws `invalid_issue_request` with every issue when the request is not valid. */
export function assertIssueRequest(value: unknown): IssueRequest {
  const result = validateIssueRequest(value);
  if (!result.ok)
    throw new FormatError('invalid_issue_request', summarize(result.issues), {
      issues: result.issues,
    });
  return result.value;
}

/** Throws `invalid_receipt` with every issue when the receipt is not valid. */
export function assertReceipt(value: unknown): Receipt {
  const result = validateReceipt(value);
  if (!result.ok)
    throw new FormatError('invalid_receipt', summarize(result.issues), { issues: result.issues });
  return result.value;
}

export function summarize(issues: readonly FieldIssue[]): string {
  return issues.map((i) => `${i.path || '/'}: ${i.message}`).join('; ');
}

/**
 * Validates a checkpoint of SPEC §6 (signed members and envelope). Read as §1 reads a
 * receipt: every member but the envelope's `jws` and `timestamp` is signed, so a member this
 * code does not know is signed content, which the signature then covers (an outside log
 * server's checkpoints carried one); an absent `timestamp` is none (§1: a claim whose
 * evidence is an absent envelope member is unknown). `createdAt` may be any RFC 3339 time:
 * §6 gives it no format, and the receipts' milliseconds-and-Z rule (§1) is for receipts.
 */
export function validateCheckpoint(value: unknown): Validation<Checkpoint> {
  const object = asObject(value);
  if (!object) return notAnObject('checkpoint');
  const c = new Checker(object);
  c.string('merchantId', IDENTIFIER_PATTERN, IDENTIFIER_RULE, { max: IDENTIFIER_MAX_LENGTH });
  if (!Number.isSafeInteger(object.seq) || (object.seq as number) < 1) {
    c.add('/seq', 'invalid_type', 'seq must be a positive integer');
  }
  c.string('entryHash', HASH_PATTERN, HASH_RULE);
  c.string('rootHash', HASH_PATTERN, HASH_RULE);
  c.predicate('createdAt', isRfc3339, 'an RFC 3339 time');
  c.string('signingKeyKid', KID_PATTERN, '<merchantId>-<YYYY>Q<n>[-<k>]');
  c.string('jws', DETACHED_JWS_PATTERN, 'a detached compact JWS (header..signature)');
  if (c.issues.length) return { ok: false, issues: c.issues };
  return {
    ok: true,
    value: (c.has('timestamp') ? object : { ...object, timestamp: null }) as unknown as Checkpoint,
  };
}

/**
 * Validates an inclusion proof of SPEC §6.1: `receiptId`, `seq` ≥ 1, `treeSize` ≥ `seq` and
 * equal to the checkpoint's `seq`, an `auditPath` of at most {@link MAX_PROOF_HASHES} hashes,
 * and a well-formed `checkpoint`. Unknown members are ignored: the proof is not signed, and
 * only these members are evidence. Whether the path recomputes the root is the verifier's job.
 */
export function validateInclusionProof(value: unknown): Validation<InclusionProof> {
  const object = asObject(value);
  if (!object) return notAnObject('inclusion proof');
  const c = new Checker(object);
  c.string('receiptId', RECEIPT_ID_PATTERN, 'trcpt_ and a ULID');
  const { seq, treeSize } = object;
  const seqOk = Number.isSafeInteger(seq) && (seq as number) >= 1;
  if (!seqOk) c.add('/seq', 'invalid_type', 'seq must be a positive integer');
  if (!Number.isSafeInteger(treeSize) || (treeSize as number) < 1) {
    c.add('/treeSize', 'invalid_type', 'treeSize must be a positive integer');
  } else if (seqOk && (treeSize as number) < (seq as number)) {
    c.add('/treeSize', 'conflict', 'treeSize must be at least seq');
  }
  const path = object.auditPath;
  if (!c.has('auditPath')) c.add('/auditPath', 'required', 'auditPath is required');
  else if (!Array.isArray(path)) c.add('/auditPath', 'invalid_type', 'auditPath must be an array');
  else if (path.length > MAX_PROOF_HASHES)
    c.add('/auditPath', 'too_long', `auditPath must have at most ${MAX_PROOF_HASHES} hashes`);
  else
    path.forEach((hash, i) => {
      if (typeof hash !== 'string' || !HASH_PATTERN.test(hash))
        c.add(`/auditPath/${i}`, 'invalid_format', `auditPath[${i}] must be ${HASH_RULE}`);
    });
  if (!c.has('checkpoint')) {
    c.add('/checkpoint', 'required', 'checkpoint is required');
  } else {
    const checkpoint = validateCheckpoint(object.checkpoint);
    if (!checkpoint.ok) {
      for (const issue of checkpoint.issues)
        c.issues.push({ ...issue, path: `/checkpoint${issue.path}` });
    } else if (checkpoint.value.seq !== treeSize && Number.isSafeInteger(treeSize)) {
      c.add('/treeSize', 'conflict', "treeSize must equal the checkpoint's seq");
    }
  }
  return c.issues.length
    ? { ok: false, issues: c.issues }
    : { ok: true, value: object as unknown as InclusionProof };
}

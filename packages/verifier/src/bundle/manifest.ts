import {
  base64url,
  digestPayloadB64,
  fromBase64url,
  HASH_PATTERN,
  isTimestampMs,
  JWS_TYPES,
  parseDetachedJws,
} from '@quittance/format';
import { asserted, type Claim, refuted } from '../claims';
import type { KeyHistory } from '../key-history';
import { checkKeyValidity, type SignedEvidence, signatureCheck } from '../signed-evidence';
import type { BundleContents } from './contents';
import { BundleError } from './errors';
import { isCount, isJsonObject, isSeq, listed, messageOf, parseJson, showValue } from './json';
import {
  EVIDENCE_KIND,
  type EvidenceManifest,
  FILES,
  JURISDICTIONS,
  type Manifest,
} from './layout';
import { formatBytes, WHOLE_FILE_BYTES } from './limits';

export type BundleKind = 'export' | typeof EVIDENCE_KIND;

/** manifest.json as read: the bundle's kind, and its manifest when usable. */
export interface ManifestRead {
  /**
   * An export (SPEC §9) or an order evidence bundle (§9.1), as the manifest says; when it
   * cannot say, evidence when the zip has proofs.jsonl and no chain.jsonl.
   */
  kind: BundleKind;
  /** An export's manifest, when usable. */
  manifest?: Manifest;
  /** An order evidence bundle's manifest, when usable. */
  evidence?: EvidenceManifest;
  /** Why manifest.json cannot be used, when it cannot. */
  problem: string;
}

/** The signed manifest, of whichever kind. */
export const signedManifest = (read: ManifestRead): Manifest | EvidenceManifest | undefined =>
  read.manifest ?? read.evidence;

/** Reads manifest.json and checks the members the verifier relies on. Never throws for content. */
export async function readManifest(contents: BundleContents): Promise<ManifestRead> {
  const guessed: BundleKind =
    !contents.has(FILES.chain) && contents.has(FILES.proofs) ? EVIDENCE_KIND : 'export';
  const unusable = (problem: string, kind: BundleKind = guessed): ManifestRead => ({
    kind,
    problem,
  });
  if (!contents.has(FILES.manifest)) return unusable('manifest.json is missing');
  const text = await contents.text(FILES.manifest, WHOLE_FILE_BYTES.manifest);
  if (text === undefined)
    return unusable(`manifest.json is larger than ${formatBytes(WHOLE_FILE_BYTES.manifest)}`);
  const parsed = parseJson(text);
  // Duplicate members are refused there too: the manifest's bytes are not hashed anywhere,
  // only the parsed object is signed (JCS), so it must be the same for every parser.
  if (!parsed.ok) return unusable(`manifest.json ${parsed.problem}`);
  const kind = isJsonObject(parsed.value) ? parsed.value.kind : undefined;
  if (kind === EVIDENCE_KIND) {
    const problems = evidenceManifestProblems(parsed.value);
    if (problems.length)
      return unusable(
        `manifest.json is not an order evidence manifest: ${listed(problems, 5)}`,
        EVIDENCE_KIND,
      );
    return { kind, evidence: parsed.value as unknown as EvidenceManifest, problem: '' };
  }
  if (kind !== undefined)
    return unusable(
      `manifest.json has kind ${showValue(kind)}: neither an export (no kind) nor "${EVIDENCE_KIND}"`,
    );
  const problems = manifestProblems(parsed.value);
  if (problems.length)
    return unusable(`manifest.json is not a bundle manifest: ${listed(problems, 5)}`, 'export');
  return { kind: 'export', manifest: parsed.value as unknown as Manifest, problem: '' };
}

/**
 * manifest_valid: manifest.jws is a detached JWS (SPEC §2, typ quittance-manifest+jws) whose
 * signature verifies over the manifest's digest statement (§2.1) with a key of the merchant
 * valid at the manifest's createdAt, both checked by the same code as a receipt's.
 */
export async function checkManifest(
  contents: BundleContents,
  read: ManifestRead,
  history: KeyHistory,
): Promise<Claim> {
  try {
    return await manifestClaim(contents, read, history);
  } catch (error) {
    if (error instanceof BundleError) throw error;
    return refuted(`manifest cannot be checked: ${messageOf(error)}`);
  }
}

async function manifestClaim(
  contents: BundleContents,
  read: ManifestRead,
  history: KeyHistory,
): Promise<Claim> {
  const manifest = signedManifest(read);
  if (!manifest) return refuted(read.problem);
  if (!contents.has(FILES.manifestJws)) return refuted('manifest.jws is missing');
  const text = await contents.text(FILES.manifestJws, WHOLE_FILE_BYTES.manifestJws);
  if (text === undefined)
    return refuted(
      `manifest.jws is larger than ${formatBytes(WHOLE_FILE_BYTES.manifestJws)}: not a JWS`,
    );
  const jws = text.trim();
  let signatureB64: string;
  let kid: unknown;
  try {
    ({
      signatureB64,
      header: { kid },
    } = parseDetachedJws(jws));
  } catch (error) {
    return refuted(`manifest.jws: ${messageOf(error)}`);
  }
  // Base64url has spare bits in its last character: only the canonical spelling is the
  // signature (the manifest.jws bytes are not hashed anywhere either).
  if (base64url(fromBase64url(signatureB64)) !== signatureB64)
    return refuted('manifest.jws: the signature is not canonical base64url');
  let payloadB64: string;
  try {
    payloadB64 = await digestPayloadB64(manifest);
  } catch (error) {
    return refuted(`manifest is not I-JSON: ${messageOf(error)}`);
  }
  const signed: SignedEvidence = {
    merchantId: manifest.merchantId,
    createdAt: manifest.createdAt,
    signingKeyKid: typeof kid === 'string' ? kid : '',
    jws,
    timestamp: null,
  };
  const signature = await signatureCheck(signed, payloadB64, history, JWS_TYPES.manifest);
  switch (signature.outcome) {
    case 'malformed':
      return refuted(`manifest.${signature.claim.reason}`);
    case 'unknown_key':
    case 'not_ed25519':
      return refuted(`manifest signed by ${signed.signingKeyKid}, which is not in the key history`);
    case 'does_not_verify':
      return refuted(
        `manifest signature does not verify with ${signed.signingKeyKid}: the manifest was altered`,
      );
    case 'verifies':
      break;
  }
  const key = checkKeyValidity(signed, history);
  if (key.status !== 'asserted') return { ...key, reason: `manifest ${key.reason}` };
  return asserted(
    `manifest signed by ${manifest.merchantId}'s key ${signed.signingKeyKid}, valid at its createdAt`,
    key.source,
  );
}

/** The members of an export's manifest.json the verifier relies on, with their types. */
function manifestProblems(value: unknown): string[] {
  if (!isJsonObject(value)) return [`it is ${showValue(value)}, not an object`];
  const problems: string[] = [];
  const need = (ok: boolean, what: string) => {
    if (!ok) problems.push(what);
  };
  need(typeof value.bundleId === 'string', 'bundleId must be a string');
  need(typeof value.merchantId === 'string', 'merchantId must be a string');
  need(
    JURISDICTIONS.includes(value.jurisdiction as never),
    `jurisdiction must be one of ${JURISDICTIONS.join(', ')}`,
  );
  need(isTimestampMs(value.createdAt), 'createdAt must be an RFC 3339 UTC time with milliseconds');
  need(typeof value.includeBodies === 'boolean', 'includeBodies must be a boolean');
  const range = value.range;
  if (!isJsonObject(range)) problems.push('range must be an object');
  else {
    need(
      range.orderId === null || typeof range.orderId === 'string',
      'range.orderId must be a string or null',
    );
    for (const member of ['firstSeq', 'lastSeq'] as const)
      need(
        range[member] === null || isSeq(range[member]),
        `range.${member} must be a positive integer or null`,
      );
  }
  problems.push(
    ...countsProblems(value.counts, [
      'receipts',
      'chainEntries',
      'checkpoints',
      'snapshots',
      'tsaCertificates',
      'bodies',
      'bodiesUnavailable',
    ]),
    ...filesProblems(value.files),
  );
  return problems;
}

/** The members of an order evidence manifest.json (SPEC §9.1) the verifier relies on. */
function evidenceManifestProblems(value: unknown): string[] {
  if (!isJsonObject(value)) return [`it is ${showValue(value)}, not an object`];
  const problems: string[] = [];
  const need = (ok: boolean, what: string) => {
    if (!ok) problems.push(what);
  };
  need(typeof value.bundleId === 'string', 'bundleId must be a string');
  need(typeof value.merchantId === 'string', 'merchantId must be a string');
  need(typeof value.orderId === 'string', 'orderId must be a string');
  need(isTimestampMs(value.createdAt), 'createdAt must be an RFC 3339 UTC time with milliseconds');
  need(typeof value.includeBodies === 'boolean', 'includeBodies must be a boolean');
  const checkpoint = value.checkpoint;
  need(
    isJsonObject(checkpoint) &&
      isSeq(checkpoint.seq) &&
      typeof checkpoint.rootHash === 'string' &&
      HASH_PATTERN.test(checkpoint.rootHash),
    'checkpoint must be { seq, rootHash }',
  );
  problems.push(
    ...countsProblems(value.counts, [
      'receipts',
      'proofs',
      'checkpoints',
      'snapshots',
      'tsaCertificates',
      'bodies',
      'bodiesUnavailable',
    ]),
    ...filesProblems(value.files),
  );
  return problems;
}

/** manifest.counts: an object of non-negative integers. */
function countsProblems(counts: unknown, members: string[]): string[] {
  if (!isJsonObject(counts)) return ['counts must be an object'];
  return members
    .filter((member) => !isCount(counts[member]))
    .map((member) => `counts.${member} must be a non-negative integer`);
}

/** manifest.files: an array of { path, bytes, sha256 }. */
function filesProblems(files: unknown): string[] {
  if (!Array.isArray(files)) return ['files must be an array'];
  const problems: string[] = [];
  files.forEach((file: unknown, i: number) => {
    if (
      !(
        isJsonObject(file) &&
        typeof file.path === 'string' &&
        isCount(file.bytes) &&
        typeof file.sha256 === 'string' &&
        HASH_PATTERN.test(file.sha256)
      )
    )
      problems.push(`files[${i}] must be { path, bytes, sha256 }`);
  });
  return problems;
}

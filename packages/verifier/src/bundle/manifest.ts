import {
  base64url,
  digestPayloadB64,
  fromBase64url,
  isHash,
  isRfc3339,
  JWS_TYPES,
  parseDetachedJws,
} from '@quittance/format';
import { asserted, type Claim, refuted } from '../claims';
import type { KeyHistory } from '../key-history';
import { checkKeyValidity, type SignedEvidence, signatureCheck } from '../signed-evidence';
import type { BundleContents } from './contents';
import { BundleError } from './errors';
import { isCount, isJsonObject, isSeq, listed, messageOf, parseJson, showValue } from './json';
import { EVIDENCE_KIND, EXPORT_KIND, FILES, type ManifestFile } from './layout';
import { formatBytes, WHOLE_FILE_BYTES } from './limits';

export type BundleKind = 'export' | typeof EVIDENCE_KIND;

/**
 * What the verifier takes from an export's manifest.json (SPEC §9). The SPEC says what a
 * manifest tells, not its members' names, so only `merchantId`, `createdAt` and `files` are
 * required: `files` is named, and the other two are needed to check the signature. The members
 * Quittance writes (README, "Bundle manifests") that the verifier compares with the bundle
 * must have their type when present; absent, they are not compared: a manifest silent about
 * its range claims nothing about it.
 */
export interface ManifestView {
  merchantId: string;
  /** createdAt in UTC with milliseconds (the manifest may write any RFC 3339 time). */
  createdAt: string;
  files: ManifestFile[];
  includeBodies?: boolean;
  /** `firstSeq` and `lastSeq` null: an empty range; absent: the manifest does not say. */
  range: { orderId?: string | null; firstSeq?: number | null; lastSeq?: number | null };
  counts: { receipts?: number; chainEntries?: number; bodies?: number };
}

/** What the verifier takes from an order evidence bundle's manifest.json (SPEC §9.1), likewise. */
export interface EvidenceManifestView {
  merchantId: string;
  createdAt: string;
  files: ManifestFile[];
  includeBodies?: boolean;
  orderId?: string;
  /** The one checkpoint every proof of proofs.jsonl is against. */
  checkpoint?: { seq: number; rootHash: string };
  counts: { receipts?: number; proofs?: number; bodies?: number };
}

/** manifest.json as read: the bundle's kind, and its manifest when usable. */
export interface ManifestRead {
  /**
   * An export (SPEC §9) or an order evidence bundle (§9.1), as the manifest says; when it
   * cannot say, evidence when the zip has proofs.jsonl and no chain.jsonl.
   */
  kind: BundleKind;
  /** An export's manifest, when usable. */
  manifest?: ManifestView;
  /** An order evidence bundle's manifest, when usable. */
  evidence?: EvidenceManifestView;
  /** manifest.json as parsed, when usable: what manifest.jws signs. */
  signed?: Record<string, unknown>;
  /** Why manifest.json cannot be used, when it cannot. */
  problem: string;
}

/** The signed manifest, of whichever kind. */
export const signedManifest = (
  read: ManifestRead,
): ManifestView | EvidenceManifestView | undefined => read.manifest ?? read.evidence;

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
  const value = parsed.value;
  if (!isJsonObject(value)) return unusable(`manifest.json is ${showValue(value)}, not an object`);
  if (![undefined, EXPORT_KIND, EVIDENCE_KIND].includes(value.kind as string))
    return unusable(
      `manifest.json has kind ${showValue(value.kind)}: neither an export (no kind or "${EXPORT_KIND}") nor "${EVIDENCE_KIND}"`,
    );
  const kind: BundleKind = value.kind === EVIDENCE_KIND ? EVIDENCE_KIND : 'export';
  const problems = requiredProblems(value);
  if (problems.length === 0) {
    const stated = new StatedMembers();
    const view =
      kind === EVIDENCE_KIND
        ? { evidence: evidenceView(value, stated) }
        : { manifest: exportView(value, stated) };
    if (stated.problems.length === 0) return { kind, ...view, signed: value, problem: '' };
    problems.push(...stated.problems);
  }
  const what = kind === EVIDENCE_KIND ? 'an order evidence manifest' : 'a bundle manifest';
  return unusable(`manifest.json is not ${what}: ${listed(problems, 5)}`, kind);
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
  if (!manifest || !read.signed) return refuted(read.problem);
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
    payloadB64 = await digestPayloadB64(read.signed);
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

/** What every manifest needs: its merchant and time (to check its signature) and its files. */
function requiredProblems(value: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (typeof value.merchantId !== 'string') problems.push('merchantId must be a string');
  if (!isRfc3339(value.createdAt)) problems.push('createdAt must be an RFC 3339 time');
  // RFC 3339 allows more fraction digits than every engine's Date.parse reads.
  else if (!Number.isFinite(Date.parse(value.createdAt)))
    problems.push(`createdAt ${showValue(value.createdAt)} cannot be read as a time here`);
  problems.push(...filesProblems(value.files));
  return problems;
}

/**
 * The members the verifier compares with the bundle, each as Quittance writes it (README,
 * "Bundle manifests"). Absent, it is not stated and not compared; present with another type,
 * it states something the verifier cannot check, which is a problem (a signed range ending
 * after the bundle's last entry must not go unread because its first end is a string).
 */
class StatedMembers {
  readonly problems: string[] = [];

  /** `value` when absent or of the type `ok` tests; otherwise a problem, and undefined. */
  get<T>(value: unknown, path: string, ok: (v: unknown) => boolean, what: string): T | undefined {
    if (value === undefined) return undefined;
    if (ok(value)) return value as T;
    this.problems.push(`${path} must be ${what}`);
    return undefined;
  }

  object(value: unknown, path: string): Record<string, unknown> {
    return this.get<Record<string, unknown>>(value, path, isJsonObject, 'an object') ?? {};
  }

  /** The counts among `members`, each a non-negative integer when given. */
  counts<M extends string>(counts: unknown, members: M[]): Partial<Record<M, number>> {
    const given: Partial<Record<M, number>> = {};
    const object = this.object(counts, 'counts');
    for (const member of members) {
      const count = this.get<number>(
        object[member],
        `counts.${member}`,
        isCount,
        'a non-negative integer',
      );
      if (count !== undefined) given[member] = count;
    }
    return given;
  }
}

const isSeqOrNull = (v: unknown) => v === null || isSeq(v);

/** The members both kinds of manifest share, once {@link requiredProblems} found none. */
function commonView(value: Record<string, unknown>, stated: StatedMembers) {
  const includeBodies = stated.get<boolean>(
    value.includeBodies,
    'includeBodies',
    (v) => typeof v === 'boolean',
    'a boolean',
  );
  return {
    merchantId: value.merchantId as string,
    createdAt: new Date(Date.parse(value.createdAt as string)).toISOString(),
    files: value.files as ManifestFile[],
    ...(includeBodies !== undefined ? { includeBodies } : {}),
  };
}

function exportView(value: Record<string, unknown>, stated: StatedMembers): ManifestView {
  const range = stated.object(value.range, 'range');
  const orderId = stated.get<string | null>(
    range.orderId,
    'range.orderId',
    (v) => v === null || typeof v === 'string',
    'a string or null',
  );
  const seq = (member: 'firstSeq' | 'lastSeq') =>
    stated.get<number | null>(
      range[member],
      `range.${member}`,
      isSeqOrNull,
      'a positive integer or null',
    );
  const firstSeq = seq('firstSeq');
  const lastSeq = seq('lastSeq');
  return {
    ...commonView(value, stated),
    range: {
      ...(orderId !== undefined ? { orderId } : {}),
      ...(firstSeq !== undefined ? { firstSeq } : {}),
      ...(lastSeq !== undefined ? { lastSeq } : {}),
    },
    counts: stated.counts(value.counts, ['receipts', 'chainEntries', 'bodies']),
  };
}

function evidenceView(value: Record<string, unknown>, stated: StatedMembers): EvidenceManifestView {
  const orderId = stated.get<string>(
    value.orderId,
    'orderId',
    (v) => typeof v === 'string',
    'a string',
  );
  const checkpoint = stated.get<{ seq: number; rootHash: string }>(
    value.checkpoint,
    'checkpoint',
    (v) => isJsonObject(v) && isSeq(v.seq) && isHash(v.rootHash),
    '{ seq, rootHash }',
  );
  return {
    ...commonView(value, stated),
    ...(orderId !== undefined ? { orderId } : {}),
    ...(checkpoint ? { checkpoint: { seq: checkpoint.seq, rootHash: checkpoint.rootHash } } : {}),
    counts: stated.counts(value.counts, ['receipts', 'proofs', 'bodies']),
  };
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
        isHash(file.sha256)
      )
    )
      problems.push(`files[${i}] must be { path, bytes, sha256 }`);
  });
  return problems;
}

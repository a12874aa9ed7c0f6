import {
  canonicalJson,
  digestPayloadB64,
  fromBase64url,
  fromUtf8,
  HASH_PATTERN,
  headerProblem,
  isPeriod,
  isRfc3339,
  JWS_TYPES,
  type JwksSnapshot,
  KEY_STATUSES,
  parseDetachedJws,
  type SnapshotKey,
  snapshotSignedPart,
} from '@quittance/format';
import { asserted, type Claim, refuted, unknown } from './claims';
import { type Ed25519Jwk, isEd25519Jwk, KeyCache, verifyJwsSignature } from './ed25519';
import { VerifierError } from './errors';

/** The pinned publisher keys, by kid (SPEC §5: the verifier's root of trust). */
export type PublisherKeys = ReadonlyMap<string, Ed25519Jwk>;

/** Reads a publisher JWKS (or a single JWK) as served at `/.well-known/quittance-publisher.json`. */
export function parsePublisherKeys(document: unknown): PublisherKeys {
  const doc = document as { keys?: unknown } | null;
  const list = doc && typeof doc === 'object' && Array.isArray(doc.keys) ? doc.keys : [document];
  const keys = new Map<string, Ed25519Jwk>();
  for (const [i, jwk] of list.entries()) {
    if (!isEd25519Jwk(jwk))
      throw new VerifierError(
        'invalid_publisher',
        `publisher key ${i} is not an Ed25519 public JWK`,
      );
    if (typeof jwk.kid !== 'string' || jwk.kid === '') {
      throw new VerifierError('invalid_publisher', `publisher key ${i} has no kid`);
    }
    keys.set(jwk.kid, jwk);
  }
  if (keys.size === 0) throw new VerifierError('invalid_publisher', 'publisher key set is empty');
  return keys;
}

/** A key of the history, with whatever history members the document carried. */
export type HistoryKey = Ed25519Jwk & Partial<SnapshotKey> & { kid: string };

/** Key history from one snapshot (or a plain JWKS), with its authenticity established once. */
export interface KeyHistory {
  /** The `snapshot_authentic` claim. */
  readonly authentic: Claim;
  /** False for a plain JWKS: no nbf/exp/status, so key validity stays unknown. */
  readonly hasHistory: boolean;
  readonly snapshot: JwksSnapshot | null;
  find(kid: string): HistoryKey | undefined;
  /** Earliest revocation time known for the kid (key status and revocation statements). */
  revokedAt(kid: string): string | undefined;
  readonly cache: KeyCache;
}

/**
 * Loads a snapshot or JWKS document. Throws {@link VerifierError} only when the document
 * is not a key set at all; an inauthentic snapshot is a refuted claim, not an exception.
 */
export async function loadKeyHistory(
  document: unknown,
  options: { publisher?: PublisherKeys; cache?: KeyCache } = {},
): Promise<KeyHistory> {
  const cache = options.cache ?? new KeyCache();
  const doc = document as Record<string, unknown> | null;
  if (!doc || typeof doc !== 'object' || !Array.isArray(doc.keys)) {
    throw new VerifierError(
      'invalid_key_set',
      'key set must be a JWKS: an object with a "keys" array',
    );
  }
  const isSnapshot = 'jws' in doc || 'period' in doc;
  const keys = new Map<string, HistoryKey>();
  const problems: string[] = isSnapshot ? snapshotShapeProblems(doc) : [];
  for (const [i, jwk] of (doc.keys as unknown[]).entries()) {
    const kid = (jwk as { kid?: unknown } | null)?.kid;
    if (typeof kid !== 'string') {
      problems.push(`keys[${i}] has no kid`);
      continue;
    }
    if (!isEd25519Jwk(jwk)) continue; // other key types never verify a receipt
    if (isSnapshot) problems.push(...historyKeyProblems(jwk as Partial<SnapshotKey>, i));
    keys.set(kid, jwk as HistoryKey);
  }

  let authentic: Claim;
  const statements: RevocationStatement[] = [];
  if (!isSnapshot) {
    // A pinned root of trust that the key set does not carry is a failed check, not a missing one.
    authentic = options.publisher
      ? refuted('a publisher key is pinned, but the key set is a plain JWKS that nothing signed')
      : unknown('the key set is a plain JWKS, not a signed snapshot');
  } else if (problems.length > 0) {
    authentic = refuted(`snapshot is malformed: ${problems.slice(0, 5).join('; ')}`);
  } else {
    const snapshot = doc as unknown as JwksSnapshot;
    authentic = await checkSnapshotSignature(snapshot, options.publisher, cache);
    const revocations = await readRevocations(
      snapshot.revocations,
      doc.keys as unknown[],
      options.publisher,
      cache,
    );
    for (const statement of revocations.statements) statements.push(statement);
    // A statement that does not match its key, is missing or does not verify refutes the
    // snapshot (SPEC §5), publisher key or not: the snapshot contradicts itself. An already
    // refuted signature keeps its own reason.
    if (authentic.status !== 'refuted' && revocations.problems.length)
      authentic = refuted(revocations.problems.slice(0, 5).join('; '));
  }

  return {
    authentic,
    hasHistory: isSnapshot,
    snapshot: isSnapshot ? (doc as unknown as JwksSnapshot) : null,
    cache,
    find: (kid) => keys.get(kid),
    revokedAt(kid) {
      const times: string[] = [];
      const key = keys.get(kid);
      if (key?.revokedAt) times.push(key.revokedAt);
      for (const s of statements) if (s.kid === kid) times.push(s.revokedAt);
      times.sort((a, b) => Date.parse(a) - Date.parse(b));
      return times[0];
    },
  };
}

function snapshotShapeProblems(doc: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (!isPeriod(doc.period)) problems.push('period is not YYYY-MM');
  if (!Number.isSafeInteger(doc.version) || (doc.version as number) < 1)
    problems.push('version is not a positive integer');
  if (!isRfc3339(doc.issuedAt)) problems.push('issuedAt is not an RFC 3339 time');
  if (
    doc.prevSnapshotHash !== null &&
    !(typeof doc.prevSnapshotHash === 'string' && HASH_PATTERN.test(doc.prevSnapshotHash))
  ) {
    problems.push('prevSnapshotHash is neither null nor a SHA-256 hex');
  }
  if (!Array.isArray(doc.revocations) || doc.revocations.some((r) => typeof r !== 'string')) {
    problems.push('revocations is not an array of compact JWS strings');
  }
  if (typeof doc.jws !== 'string') problems.push('jws is missing');
  return problems;
}

function historyKeyProblems(key: Partial<SnapshotKey>, i: number): string[] {
  const problems: string[] = [];
  const at = `keys[${i}] (${key.kid})`;
  if (typeof key.merchantId !== 'string') problems.push(`${at} has no merchantId`);
  if (!isRfc3339(key.nbf)) problems.push(`${at} nbf is not an RFC 3339 time`);
  if (key.exp !== null && !isRfc3339(key.exp))
    problems.push(`${at} exp is neither null nor an RFC 3339 time`);
  if (!KEY_STATUSES.includes(key.status as never))
    problems.push(`${at} status is not active, retired or revoked`);
  if (key.status === 'revoked' && !isRfc3339(key.revokedAt))
    problems.push(`${at} is revoked without revokedAt`);
  if (key.status === 'revoked' && typeof key.revocationReason !== 'string')
    problems.push(`${at} is revoked without revocationReason`);
  return problems;
}

async function checkSnapshotSignature(
  snapshot: JwksSnapshot,
  publisher: PublisherKeys | undefined,
  cache: KeyCache,
): Promise<Claim> {
  if (!publisher)
    return unknown("no publisher key was given, so the snapshot is the operator's word");
  let parsed: ReturnType<typeof parseDetachedJws>;
  try {
    parsed = parseDetachedJws(snapshot.jws);
  } catch (error) {
    return refuted(`snapshot jws: ${(error as Error).message}`);
  }
  const kid = parsed.header.kid;
  const key = typeof kid === 'string' ? publisher.get(kid) : undefined;
  if (!key)
    return refuted(
      `snapshot is signed by ${JSON.stringify(kid)}, which is not a pinned publisher key`,
    );
  const problem = headerProblem(parsed.header, kid as string, JWS_TYPES.snapshot);
  if (problem) return refuted(`snapshot jws ${problem}`);
  // Signed through its digest statement (SPEC §2.1), rebuilt from the document held here.
  const payloadB64 = await digestPayloadB64(snapshotSignedPart(snapshot));
  const valid = await verifyJwsSignature(
    cache,
    key,
    parsed.headerB64,
    payloadB64,
    parsed.signatureB64,
  );
  if (!valid)
    return refuted(
      `snapshot ${snapshot.period} v${snapshot.version} signature does not verify with publisher key ${kid}`,
    );
  return asserted(
    `snapshot ${snapshot.period} v${snapshot.version} is signed by publisher key ${kid}`,
  );
}

interface RevocationStatement {
  kid: string;
  revokedAt: string;
  reason: string;
}

/**
 * Reads and checks the revocation statements (SPEC §5). Each is a compact JWS with its payload
 * attached, header exactly `{alg: EdDSA, kid: <publisher kid>, typ: quittance-revocation+jws}`,
 * payload UTF-8(JCS({kid, revokedAt, reason})), and its three members MUST equal the revoked
 * key's `kid`, `revokedAt` and `revocationReason` in the same snapshot; every revoked key has
 * one. A statement that cannot be read or does not match makes the snapshot contradict itself:
 * a problem with or without a publisher key. With a publisher key, each statement must also
 * verify with a pinned publisher key. Every readable statement is honoured all the same (a
 * revocation can only make the verdict stricter).
 */
async function readRevocations(
  jwsList: string[],
  documentKeys: readonly unknown[],
  publisher: PublisherKeys | undefined,
  cache: KeyCache,
): Promise<{ statements: RevocationStatement[]; problems: string[] }> {
  const statements: RevocationStatement[] = [];
  const problems: string[] = [];
  const revoked = new Map<string, Partial<SnapshotKey>>();
  const byKid = new Map<string, Partial<SnapshotKey>>();
  for (const key of documentKeys as Partial<SnapshotKey>[]) {
    if (typeof key?.kid !== 'string') continue;
    byKid.set(key.kid, key);
    if (key.status === 'revoked') revoked.set(key.kid, key);
  }
  const matched = new Set<string>();
  for (const [i, jws] of jwsList.entries()) {
    const read = readStatement(jws);
    if ('problem' in read) {
      problems.push(`revocation statement ${i} is unreadable: ${read.problem}`);
      continue;
    }
    const { header, claims, parts } = read;
    statements.push(claims);
    const at = `revocation statement ${i} (${claims.kid})`;
    const key = byKid.get(claims.kid);
    if (!key) {
      problems.push(`${at} names a kid that is not in the snapshot`);
    } else if (key.status !== 'revoked') {
      problems.push(`${at} revokes a key whose status is ${JSON.stringify(key.status)}`);
    } else if (key.revokedAt !== claims.revokedAt) {
      problems.push(
        `${at} says revokedAt ${claims.revokedAt}, the key says ${String(key.revokedAt)}`,
      );
    } else if (key.revocationReason !== claims.reason) {
      problems.push(
        `${at} says reason ${JSON.stringify(claims.reason)}, the key says ${JSON.stringify(key.revocationReason)}`,
      );
    } else {
      matched.add(claims.kid);
    }
    if (!publisher) continue;
    const signer = typeof header.kid === 'string' ? publisher.get(header.kid) : undefined;
    if (!signer) {
      problems.push(
        `${at} is signed by ${JSON.stringify(header.kid)}, which is not a pinned publisher key`,
      );
      continue;
    }
    const headerIssue = headerProblem(header, header.kid as string, JWS_TYPES.revocation);
    if (headerIssue) {
      problems.push(`${at} ${headerIssue}`);
      continue;
    }
    const [headerB64, payloadB64, signatureB64] = parts;
    if (!(await verifyJwsSignature(cache, signer, headerB64, payloadB64, signatureB64)))
      problems.push(`${at} signature does not verify with publisher key ${header.kid}`);
  }
  for (const kid of revoked.keys()) {
    if (!matched.has(kid)) problems.push(`key ${kid} is revoked without a matching statement`);
  }
  return { statements, problems };
}

/** Parses one attached compact JWS revocation statement, or says why it cannot. */
function readStatement(jws: string):
  | {
      header: Record<string, unknown>;
      claims: RevocationStatement;
      parts: [string, string, string];
    }
  | { problem: string } {
  const parts = jws.split('.');
  if (parts.length !== 3 || parts.some((part) => !/^[A-Za-z0-9_-]+$/.test(part)))
    return { problem: 'not a compact JWS with its payload attached (header.payload.signature)' };
  let header: unknown;
  let payloadText: string;
  let claims: unknown;
  try {
    header = JSON.parse(fromUtf8(fromBase64url(parts[0] as string)));
    payloadText = fromUtf8(fromBase64url(parts[1] as string));
    claims = JSON.parse(payloadText);
  } catch {
    return { problem: 'header or payload is not base64url JSON' };
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header))
    return { problem: 'header is not a JSON object' };
  const c = claims as Partial<RevocationStatement> | null;
  if (
    c === null ||
    typeof c !== 'object' ||
    Array.isArray(c) ||
    Object.keys(c).sort().join(',') !== 'kid,reason,revokedAt' ||
    typeof c.kid !== 'string' ||
    typeof c.reason !== 'string' ||
    !isRfc3339(c.revokedAt)
  ) {
    return { problem: 'payload is not {kid, revokedAt, reason} with string members' };
  }
  if (canonicalJson(c) !== payloadText)
    return { problem: 'payload is not the JCS form of {kid, revokedAt, reason}' };
  return {
    header: header as Record<string, unknown>,
    claims: c as RevocationStatement,
    parts: parts as [string, string, string],
  };
}

/** A loaded key history, as opposed to a key set document still to load. */
export function isKeyHistory(value: unknown): value is KeyHistory {
  return typeof (value as KeyHistory | null)?.find === 'function';
}

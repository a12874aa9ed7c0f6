import { asciiBytes, base64url, fromBase64url, fromUtf8, utf8 } from './encoding';
import { FormatError } from './errors';
import { sha256Hex } from './hash';
import { canonicalBytes, canonicalJson } from './jcs';
import { DETACHED_JWS_PATTERN } from './rules';

/** The `typ` of each kind of document Quittance signs. */
export const JWS_TYPES = {
  receipt: 'quittance-receipt+jws',
  snapshot: 'quittance-jwks-snapshot+jws',
  checkpoint: 'quittance-checkpoint+jws',
  manifest: 'quittance-manifest+jws',
  revocation: 'quittance-revocation+jws',
} as const;
export type JwsType = (typeof JWS_TYPES)[keyof typeof JWS_TYPES];

/** AWS KMS signs raw messages of at most 4096 bytes; SPEC §2 holds every signing input to it. */
export const MAX_SIGNING_INPUT_BYTES = 4096;

/** The protected header: exactly these three members (SPEC §2). */
export interface JwsHeader {
  alg: 'EdDSA';
  kid: string;
  typ: string;
}

/** Everything needed to sign a document and to assemble its JWS afterwards. */
export interface SigningPlan {
  readonly header: JwsHeader;
  readonly headerB64: string;
  readonly payloadB64: string;
  /** The canonical (JCS) text of the signed document, e.g. to store it as signed. */
  readonly payloadJson: string;
  /** ASCII(BASE64URL(header) || "." || BASE64URL(payload)): what the signer signs. */
  readonly signingInput: Uint8Array;
}

/**
 * Builds the signing input for `document` (already stripped of its envelope members) and
 * refuses, before any signer is involved, one that exceeds `maxBytes`: receipts always use
 * {@link MAX_SIGNING_INPUT_BYTES} (SPEC §2); other documents the limit of their signer.
 */
export function planSignature(
  document: unknown,
  kid: string,
  typ: string,
  maxBytes: number = MAX_SIGNING_INPUT_BYTES,
): SigningPlan {
  const header: JwsHeader = { alg: 'EdDSA', kid, typ };
  const headerB64 = base64url(canonicalBytes(header));
  const payloadJson = canonicalJson(document);
  const payloadB64 = base64url(utf8(payloadJson));
  const signingInput = asciiBytes(`${headerB64}.${payloadB64}`);
  assertSigningInputSize(signingInput, maxBytes);
  return { header, headerB64, payloadB64, payloadJson, signingInput };
}

export function assertSigningInputSize(
  signingInput: Uint8Array,
  maxBytes: number = MAX_SIGNING_INPUT_BYTES,
): void {
  if (signingInput.length > maxBytes) {
    throw new FormatError(
      'signing_input_too_large',
      `signing input is ${signingInput.length} bytes; the limit is ${maxBytes}`,
    );
  }
}

/** RFC 7515 Appendix F detached compact serialization: header..signature. */
export function detachedJws(plan: Pick<SigningPlan, 'headerB64'>, signature: Uint8Array): string {
  return `${plan.headerB64}..${base64url(signature)}`;
}

export interface ParsedDetachedJws {
  readonly headerB64: string;
  readonly header: Record<string, unknown>;
  readonly signatureB64: string;
  readonly signature: Uint8Array;
}

/** Splits a detached JWS; throws `invalid_jws` when it is not one. */
export function parseDetachedJws(jws: string): ParsedDetachedJws {
  if (!DETACHED_JWS_PATTERN.test(jws)) {
    throw new FormatError('invalid_jws', 'not a detached compact JWS (header..signature)');
  }
  const [headerB64, , signatureB64] = jws.split('.') as [string, string, string];
  let header: unknown;
  let signature: Uint8Array;
  try {
    header = JSON.parse(fromUtf8(fromBase64url(headerB64)));
    signature = fromBase64url(signatureB64);
  } catch (cause) {
    throw new FormatError('invalid_jws', 'JWS header or signature is not valid base64url JSON', {
      cause,
    });
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new FormatError('invalid_jws', 'JWS header is not a JSON object');
  }
  return { headerB64, header: header as Record<string, unknown>, signatureB64, signature };
}

/**
 * Checks that a protected header is exactly `{alg: EdDSA, kid, typ}` as SPEC §2 requires
 * (no `b64`, no `crit`, nothing else). Returns the reason it is not, or null.
 */
export function headerProblem(
  header: Record<string, unknown>,
  kid: string,
  typ: string,
): string | null {
  const names = Object.keys(header).sort();
  if (names.join(',') !== 'alg,kid,typ')
    return `header members are [${names.join(', ')}], not [alg, kid, typ]`;
  if (header.alg !== 'EdDSA') return `header alg is ${JSON.stringify(header.alg)}, not "EdDSA"`;
  if (header.typ !== typ) return `header typ is ${JSON.stringify(header.typ)}, not "${typ}"`;
  if (header.kid !== kid)
    return `header kid ${JSON.stringify(header.kid)} does not match ${JSON.stringify(kid)}`;
  return null;
}

/** The signing input a verifier rebuilds from a detached JWS and the document it was given. */
export function rebuildSigningInput(headerB64: string, document: unknown): Uint8Array {
  return asciiBytes(`${headerB64}.${base64url(canonicalBytes(document))}`);
}

/**
 * The digest statement of a document that grows without bound (SPEC §2.1): `{"sha256": D}`
 * where D is the SHA-256 hex of the document's JCS. Signing it keeps every signing input
 * small, so a KMS key (4096-byte limit) signs snapshots and manifests of any size.
 */
export async function digestStatement(document: unknown): Promise<{ sha256: string }> {
  return { sha256: await sha256Hex(canonicalBytes(document)) };
}

/** The signing plan of a document signed through its digest statement (SPEC §2.1). */
export async function planDigestSignature(
  document: unknown,
  kid: string,
  typ: string,
): Promise<SigningPlan> {
  return planSignature(await digestStatement(document), kid, typ);
}

/**
 * The base64url payload a verifier re-attaches to a digest-statement JWS: rebuilt from the
 * document it holds, never taken from elsewhere. Throws `not_i_json` for a document that has
 * no canonical form.
 */
export async function digestPayloadB64(document: unknown): Promise<string> {
  return base64url(canonicalBytes(await digestStatement(document)));
}

/** The compact JWS with the payload re-attached, as any RFC 7515 library expects. */
export function attachPayload(jws: string, document: unknown): string {
  const { headerB64, signatureB64 } = parseDetachedJws(jws);
  return `${headerB64}.${base64url(canonicalBytes(document))}.${signatureB64}`;
}

/** `document` without the named envelope members, which are never signed. */
export function withoutMembers<T extends object>(
  document: T,
  members: readonly string[],
): Record<string, unknown> {
  // fromEntries defines own properties: an own `__proto__` (JSON.parse makes one) stays a
  // member, where assigning it would set the prototype and drop it from what is signed.
  return Object.fromEntries(Object.entries(document).filter(([name]) => !members.includes(name)));
}

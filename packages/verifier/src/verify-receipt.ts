import {
  base64url,
  bodyHash,
  canonicalBytes,
  chainLinkProblems,
  type FieldIssue,
  isTimestampMs,
  type Receipt,
  type ReceiptEnvelope,
  receiptChainEntry,
  type SignedReceipt,
  signedPart,
  summarize,
  validateReceipt,
} from '@quittance/format';
import {
  asserted,
  type Claim,
  type ReceiptClaims,
  type ReceiptReport,
  refuted,
  unknown,
} from './claims';
import { isKeyHistory, type KeyHistory, loadKeyHistory, type PublisherKeys } from './key-history';
import {
  checkKeyValidity,
  checkSignature,
  checkTimestamp,
  type ExistenceProof,
  earliestProof,
} from './signed-evidence';
import { checkInclusion } from './verify-inclusion';

export interface VerifyReceiptOptions {
  /** Pinned publisher keys; without them `snapshot_authentic` is unknown. */
  publisher?: PublisherKeys;
  /** Disclosed bodies to check against `inputHash` / `outputHash`. */
  bodies?: { input?: unknown; output?: unknown };
  /** The chain entry before this receipt's, when the verifier has it (bundles). */
  previousEntry?: { seq: number; entryHash: string };
  /** DER certificates of the TSA trust anchors; without them `timestamp_valid` is unknown. */
  tsaTrustAnchors?: Uint8Array[];
  /** A time by which other verified evidence (a timestamped checkpoint) proves the receipt existed. */
  existedBy?: ExistenceProof;
  /**
   * Whether a verified timestamp may prove that the receipt existed before a revocation.
   * False when the TSA roots came from whoever produced the evidence (a bundle's `tsa/`):
   * a token that vouches for itself proves no time.
   */
  timestampProvesExistence?: boolean;
  /**
   * An inclusion proof of the receipt (SPEC §6.1: `{receiptId, seq, treeSize, auditPath,
   * checkpoint}`), as parsed from JSON and not yet checked: it decides `included_in_log`,
   * and a verified one whose checkpoint carries a trusted timestamp proves the receipt existed
   * by then (SPEC §5, §10). Without it `included_in_log` is unknown.
   */
  proof?: unknown;
}

/**
 * Verifies one receipt against a key snapshot (or plain JWKS), step by step as SPEC §2 and §5
 * say: well-formed receipt → rebuilt payload and JWS → key validity at issuance →
 * timestamp → chain link → disclosed bodies. Each step yields one claim.
 */
export async function verifyReceipt(
  receipt: unknown,
  keySet: unknown,
  options: VerifyReceiptOptions = {},
): Promise<ReceiptReport> {
  const history = isKeyHistory(keySet) ? keySet : await loadKeyHistory(keySet, options);
  return verifyWithHistory(receipt, history, options);
}

/** A receipt as SPEC 1.1 §1 lets a verifier receive it: envelope members may be absent. */
type GivenReceipt = SignedReceipt & Partial<ReceiptEnvelope>;

/**
 * The claim an envelope member is evidence for (SPEC 1.1 §1); any other path is a signed
 * member. A Map, not an object literal: a member named `constructor` or `__proto__` must not
 * find what an object inherits.
 */
const EVIDENCE_OF = new Map<string, 'signature' | 'timestamp' | 'chain'>([
  ['jws', 'signature'],
  ['timestamp', 'timestamp'],
  ['legal_posture', 'timestamp'],
  ['chain', 'chain'],
]);

/** The signed members key validity is decided from (SPEC §5). */
const KEY_VALIDITY_MEMBERS = ['merchantId', 'createdAt', 'signingKeyKid', 'jwksSnapshotUrl'];

async function verifyWithHistory(
  input: unknown,
  history: KeyHistory,
  options: VerifyReceiptOptions,
): Promise<ReceiptReport> {
  const id =
    typeof (input as { id?: unknown } | null)?.id === 'string'
      ? (input as { id: string }).id
      : '(no id)';
  // SPEC 1.1 §1: envelope members are optional. Each issue is charged to the claim its member
  // is evidence for: a malformed `jws` refutes signature_valid, a malformed `timestamp` or
  // `legal_posture` refutes timestamp_valid, a malformed `chain` refutes chain_linked, and
  // nothing else. Issues of signed members (and unknown members, which are signed content)
  // are the signature's.
  const validation = validateReceipt(input, { envelope: 'optional' });
  const issues: Record<'signed' | 'signature' | 'timestamp' | 'chain', FieldIssue[]> = {
    signed: [],
    signature: [],
    timestamp: [],
    chain: [],
  };
  for (const issue of validation.ok ? [] : validation.issues) {
    const member = issue.path.split('/')[1] ?? '';
    issues[EVIDENCE_OF.get(member) ?? 'signed'].push(issue);
  }
  if (issues.signed.some((issue) => issue.path === '')) {
    // Not even an object: nothing to verify.
    const malformed = unknown('receipt is malformed');
    return {
      id,
      claims: {
        signature_valid: refuted(`not a well-formed receipt: ${summarize(issues.signed)}`),
        key_valid_at_issuance: malformed,
        timestamp_valid: malformed,
        chain_linked: malformed,
        included_in_log:
          options.proof === undefined ? unknown('no inclusion proof was given') : malformed,
        snapshot_authentic: history.authentic,
      },
    };
  }
  const receipt = input as GivenReceipt;
  // The payload is always rebuilt from the receipt itself (SPEC §2), never taken from elsewhere.
  let payloadB64: string | undefined;
  try {
    payloadB64 = base64url(canonicalBytes(signedPart(receipt)));
  } catch (error) {
    issues.signed.push({
      path: '',
      code: 'not_i_json',
      message: `the signed members have no canonical form: ${(error as Error).message}`,
    });
  }
  const jwsUsable = typeof receipt.jws === 'string' && issues.signature.length === 0;
  const signedProblem = issues.signed.length
    ? `the signed members are not a well-formed receipt (SPEC §1): ${summarize(issues.signed)}`
    : undefined;

  const timestamp = await timestampClaim(receipt, jwsUsable, issues.timestamp, options);
  const inclusion = await checkInclusion(
    {
      id,
      merchantId: receipt.merchantId,
      chain: receipt.chain !== undefined && !issues.chain.length ? receipt.chain : undefined,
      chainProblem:
        receipt.chain === undefined
          ? 'the receipt was handed on without its chain member'
          : `chain is malformed (${summarize(issues.chain)})`,
      attachedJws:
        jwsUsable && payloadB64 !== undefined
          ? attachedJws(receipt.jws as string, payloadB64)
          : undefined,
    },
    options.proof,
    history,
    options,
  );
  const claims: ReceiptClaims = {
    signature_valid: await signatureClaim(receipt, payloadB64, history, issues, signedProblem),
    key_valid_at_issuance: unknown('not checked yet'),
    timestamp_valid: timestamp.claim,
    chain_linked: await chainClaim(receipt, payloadB64, jwsUsable, issues.chain, options),
    included_in_log: inclusion.claim,
    snapshot_authentic: history.authentic,
  };
  const keyMembersBad = issues.signed.some((issue) =>
    KEY_VALIDITY_MEMBERS.includes(issue.path.split('/')[1] ?? ''),
  );
  // Decided from the signed members alone (SPEC 1.1 §1), whether or not `jws` was handed on.
  const provenTime = options.timestampProvesExistence === false ? undefined : timestamp.proof;
  claims.key_valid_at_issuance = keyMembersBad
    ? unknown('merchantId, createdAt, signingKeyKid or jwksSnapshotUrl is malformed')
    : checkKeyValidity(
        receipt,
        history,
        earliestProof(provenTime, options.existedBy, inclusion.existedBy),
      );
  if (options.bodies) {
    claims.body_matches = issues.signed.some((i) => /^\/(input|output)Hash$/.test(i.path))
      ? unknown('inputHash or outputHash is malformed')
      : await checkBodies(receipt, options.bodies);
  }
  return { id, claims };
}

/**
 * signature_valid. An absent `jws` makes it `unknown`, as SPEC 1.1 says of every missing
 * envelope member ("unknown, never refuted"): nothing then proves the key signed these
 * members, and the report says so (README, decisions). A malformed `jws` refutes it.
 * Otherwise the Ed25519 signature over the rebuilt payload decides; an unknown member is
 * signed content, so it simply makes the signature not verify (conformance vector
 * tampered-added-member). Signed members that break SPEC §1 refute it even under a signature
 * that verifies: what the key signed is not a receipt.
 */
async function signatureClaim(
  receipt: GivenReceipt,
  payloadB64: string | undefined,
  history: KeyHistory,
  issues: { signature: FieldIssue[] },
  signedProblem: string | undefined,
): Promise<Claim> {
  if (issues.signature.length) return refuted(`jws is malformed: ${summarize(issues.signature)}`);
  if (receipt.jws === undefined) {
    if (signedProblem) return refuted(signedProblem);
    return unknown('the receipt has no jws: nothing proves that its key signed these members');
  }
  if (payloadB64 === undefined || typeof receipt.signingKeyKid !== 'string')
    return refuted(signedProblem ?? 'signingKeyKid is not a string');
  const claim = await checkSignature(
    { ...receipt, jws: receipt.jws, timestamp: receipt.timestamp ?? null },
    payloadB64,
    history,
  );
  if (!signedProblem || claim.status === 'refuted') return claim;
  return refuted(
    claim.status === 'asserted'
      ? `the signature verifies, but ${signedProblem}`
      : `${signedProblem}; and ${claim.reason}`,
  );
}

/** timestamp_valid: unknown without a `timestamp`; refuted only by its own (or posture's) flaws. */
async function timestampClaim(
  receipt: GivenReceipt,
  jwsUsable: boolean,
  issues: FieldIssue[],
  options: VerifyReceiptOptions,
): Promise<{ claim: Claim; proof?: ExistenceProof }> {
  if (issues.length)
    return { claim: refuted(`timestamp evidence is malformed: ${summarize(issues)}`) };
  if (receipt.timestamp === undefined)
    return { claim: unknown('the receipt was handed on without its timestamp member') };
  if (receipt.timestamp !== null && !jwsUsable) {
    return {
      claim: unknown(
        'the timestamp covers the signature segment of jws, which is absent or malformed',
      ),
    };
  }
  if (receipt.timestamp !== null && !isTimestampMs(receipt.createdAt))
    return { claim: unknown('createdAt is malformed, so the token time cannot be checked') };
  return checkTimestamp(
    { ...receipt, jws: receipt.jws ?? '', timestamp: receipt.timestamp },
    options.tsaTrustAnchors,
  );
}

/** chain_linked: unknown without a `chain`; refuted only by its own flaws or a broken link. */
async function chainClaim(
  receipt: GivenReceipt,
  payloadB64: string | undefined,
  jwsUsable: boolean,
  issues: FieldIssue[],
  options: VerifyReceiptOptions,
): Promise<Claim> {
  if (issues.length) return refuted(`chain is malformed: ${summarize(issues)}`);
  if (receipt.chain === undefined)
    return unknown('the receipt was handed on without its chain member');
  if (!jwsUsable || payloadB64 === undefined) {
    return unknown(
      'the chain entry hashes the attached JWS, which cannot be rebuilt without a well-formed jws and signed members',
    );
  }
  return checkChainLink(
    { id: receipt.id, jws: receipt.jws as string, chain: receipt.chain },
    payloadB64,
    options.previousEntry,
  );
}

/** The attached compact JWS `header.payload.signature` whose hash is the receiptHash (SPEC §6). */
export function attachedJws(detached: string, payloadB64: string): string {
  const [headerB64, , signatureB64] = detached.split('.');
  return `${headerB64}.${payloadB64}.${signatureB64}`;
}

async function checkChainLink(
  receipt: Pick<Receipt, 'id' | 'jws' | 'chain'>,
  payloadB64: string,
  previous: VerifyReceiptOptions['previousEntry'],
): Promise<Claim> {
  const { seq } = receipt.chain;
  const entry = await receiptChainEntry(
    receipt.id,
    receipt.chain,
    attachedJws(receipt.jws, payloadB64),
  );
  // Entry 1 links to the genesis hash, whatever entry is given as the one before it.
  const problems = await chainLinkProblems(entry, seq === 1 ? undefined : previous);
  if (problems.includes('entry_hash'))
    return refuted(`chain entryHash does not recompute from seq ${seq}, prevHash and this receipt`);
  if (seq === 1) {
    return problems.includes('genesis')
      ? refuted('entry 1 must have the all-zero prevHash')
      : asserted('first entry of the chain: prevHash is the genesis hash and entryHash recomputes');
  }
  if (!previous)
    return unknown(`entryHash recomputes; the link to entry ${seq - 1} needs the chain`);
  if (problems.includes('gap'))
    return refuted(`previous entry is seq ${previous.seq}, not ${seq - 1}`);
  if (problems.includes('prev_hash'))
    return refuted(`prevHash does not equal entry ${seq - 1}'s entryHash`);
  return asserted(`entry ${seq} links to entry ${seq - 1} and its entryHash recomputes`);
}

async function checkBodies(
  receipt: Pick<Receipt, 'inputHash' | 'outputHash'>,
  bodies: { input?: unknown; output?: unknown },
): Promise<Claim> {
  const checked: string[] = [];
  for (const kind of ['input', 'output'] as const) {
    if (!Object.hasOwn(bodies, kind)) continue;
    let hash: string;
    try {
      hash = await bodyHash(bodies[kind]);
    } catch (error) {
      return refuted(`disclosed ${kind} body is not I-JSON: ${(error as Error).message}`);
    }
    if (hash !== receipt[`${kind}Hash`])
      return refuted(`disclosed ${kind} body does not hash to ${kind}Hash`);
    checked.push(kind);
  }
  return checked.length
    ? asserted(`disclosed ${checked.join(' and ')} hash to the signed hashes`)
    : unknown('no body disclosed');
}

import {
  earliestGenTime,
  fromBase64,
  headerProblem,
  JWS_TYPES,
  type ParsedDetachedJws,
  parseDetachedJws,
  periodOfSnapshotUrl,
  type ReceiptTimestamp,
  timestampImprint,
} from '@quittance/format';
import { asserted, type Claim, refuted, unknown } from './claims';
import { isEd25519Jwk, verifyJwsSignature } from './ed25519';
import type { KeyHistory } from './key-history';

// The checks every signed document of the log shares (receipts, checkpoints, a bundle's
// manifest): its JWS by a key of the history, that key's validity at `createdAt`, its RFC
// 3161 timestamp. One implementation, so each document is judged by the same rules.

/** Independent evidence that a document existed by `time` (a timestamp, a checkpoint). */
export interface ExistenceProof {
  time: string;
  evidence: string;
}

/** What receipts and checkpoints share: signed by a merchant key at `createdAt`, maybe timestamped. */
export interface SignedEvidence {
  merchantId: string;
  createdAt: string;
  signingKeyKid: string;
  jws: string;
  timestamp: ReceiptTimestamp | null;
}

/** How a signature check ended, for callers that word their own claim (a bundle's manifest). */
export type SignatureOutcome =
  /** The JWS cannot be read, or its header is not exactly what SPEC §2 requires. */
  | 'malformed'
  /** The key set has no key with that kid. */
  | 'unknown_key'
  /** The kid names a key that is not an Ed25519 public key. */
  | 'not_ed25519'
  | 'does_not_verify'
  | 'verifies';

/**
 * Verifies a detached JWS by a key of the history over `payloadB64` (rebuilt by the caller
 * from the document itself), its header exactly `{alg, kid, typ}` for `typ`.
 */
export async function signatureCheck(
  evidence: Pick<SignedEvidence, 'jws' | 'signingKeyKid'>,
  payloadB64: string,
  history: KeyHistory,
  typ: string = JWS_TYPES.receipt,
): Promise<{ outcome: SignatureOutcome; claim: Claim }> {
  let jws: ParsedDetachedJws;
  try {
    jws = parseDetachedJws(evidence.jws);
  } catch (error) {
    return { outcome: 'malformed', claim: refuted(`jws: ${(error as Error).message}`) };
  }
  const kid = evidence.signingKeyKid;
  const problem = headerProblem(jws.header, kid, typ);
  if (problem) return { outcome: 'malformed', claim: refuted(`jws ${problem}`) };
  const key = history.find(kid);
  if (!key)
    return {
      outcome: 'unknown_key',
      claim: unknown(`kid ${kid} is not in the key set, so the signature cannot be checked`),
    };
  if (!isEd25519Jwk(key))
    return {
      outcome: 'not_ed25519',
      claim: refuted(`key ${kid} is not an Ed25519 public key`),
    };
  const valid = await verifyJwsSignature(
    history.cache,
    key,
    jws.headerB64,
    payloadB64,
    jws.signatureB64,
  );
  return valid
    ? {
        outcome: 'verifies',
        claim: asserted(`Ed25519 signature by ${kid} verifies over the rebuilt payload`),
      }
    : {
        outcome: 'does_not_verify',
        claim: refuted(
          `Ed25519 signature does not verify with key ${kid} over the rebuilt payload`,
        ),
      };
}

/** signature_valid of signed evidence (a receipt, a checkpoint). */
export async function checkSignature(
  evidence: SignedEvidence,
  payloadB64: string,
  history: KeyHistory,
  typ: string = JWS_TYPES.receipt,
): Promise<Claim> {
  return (await signatureCheck(evidence, payloadB64, history, typ)).claim;
}

/** The earliest independently proven time the receipt existed by, with what proves it. */
export function earliestProof(...existedBy: (ExistenceProof | undefined)[]) {
  const proofs = existedBy.filter((proof) => proof !== undefined);
  return proofs.sort((a, b) => Date.parse(a.time) - Date.parse(b.time))[0];
}

export function checkKeyValidity(
  receipt: Pick<SignedEvidence, 'merchantId' | 'createdAt' | 'signingKeyKid'> & {
    jwksSnapshotUrl?: string;
  },
  history: KeyHistory,
  proof?: { time: string; evidence: string },
): Claim {
  const kid = receipt.signingKeyKid;
  const named = receipt.jwksSnapshotUrl ? periodOfSnapshotUrl(receipt.jwksSnapshotUrl) : undefined;
  if (receipt.jwksSnapshotUrl !== undefined && named !== receipt.createdAt.slice(0, 7)) {
    return refuted(
      `jwksSnapshotUrl names ${named ?? 'no period'}, not the month of createdAt (SPEC §1)`,
    );
  }
  const key = history.find(kid);
  // A forged snapshot proves nothing either way about the key (snapshot_authentic is refuted).
  if (history.authentic.status === 'refuted')
    return unknown('the key snapshot is not authentic: it proves nothing about the key');
  // A key history older than what it signed could miss a key made, or a revocation made, in
  // between: a checkpoint of December signed by a key rotated in, checked against the
  // October snapshot its receipt names, is unknown, not refuted (an outside check).
  const month = receipt.createdAt.slice(0, 7);
  const older = history.snapshot && history.snapshot.period < month;
  if (!key) {
    return older
      ? unknown(
          `kid ${kid} is not in the key history given, the snapshot of ${history.snapshot?.period}, which is older than the month of createdAt ${month}; give a later snapshot`,
        )
      : refuted(`kid ${kid} is not in the key history`);
  }
  if (!history.hasHistory) {
    return unknown(
      'the key set has no history (nbf, exp, status); give the snapshot the receipt names',
    );
  }
  const source = history.authentic.status === 'asserted' ? 'verifier_derived' : 'operator_asserted';
  const created = Date.parse(receipt.createdAt);
  if (older) {
    return unknown(
      `the key history given is the snapshot of ${history.snapshot?.period}, older than the month of createdAt ${month}; a later revocation could be missing`,
    );
  }
  if (key.merchantId !== receipt.merchantId) {
    return refuted(`key ${kid} belongs to ${key.merchantId}, not to ${receipt.merchantId}`);
  }
  if (created < Date.parse(key.nbf as string))
    return refuted(`createdAt ${receipt.createdAt} is before key nbf ${key.nbf}`);
  // The revocation first: it also ends the key's window (exp), and says why.
  const revokedAt = history.revokedAt(kid);
  if (revokedAt !== undefined && created >= Date.parse(revokedAt)) {
    // The snapshot's words, quoted and cut short: it is input like any other.
    const why =
      typeof key.revocationReason === 'string'
        ? ` (${JSON.stringify(key.revocationReason.slice(0, 100))})`
        : '';
    return refuted(
      `key ${kid} was revoked${why} as of ${revokedAt}, at or before createdAt ${receipt.createdAt}`,
    );
  }
  if (key.exp && created >= Date.parse(key.exp))
    return refuted(`createdAt ${receipt.createdAt} is at or after key exp ${key.exp}`);
  if (revokedAt !== undefined) {
    // A stolen key can backdate createdAt: only independent evidence of existence before the
    // revocation (a verified timestamp or checkpoint) can assert validity.
    if (proof && Date.parse(proof.time) < Date.parse(revokedAt)) {
      return asserted(
        `key ${kid} was revoked at ${revokedAt}, but ${proof.evidence} proves the receipt existed before`,
        source,
      );
    }
    return unknown(
      `key ${kid} was revoked at ${revokedAt}, after createdAt; no verified timestamp or checkpoint proves the receipt existed before then`,
    );
  }
  const window = key.exp ? `[${key.nbf}, ${key.exp})` : `from ${key.nbf}`;
  return asserted(`key ${kid} of ${key.merchantId} was valid ${window} and is not revoked`, source);
}

/** SPEC §4: the token's imprint is SHA-256 of the ASCII signature segment of `jws`. */
export async function checkTimestamp(
  receipt: SignedEvidence,
  anchors: Uint8Array[] | undefined,
): Promise<{ claim: Claim; proof?: ExistenceProof }> {
  if (receipt.timestamp === null)
    return { claim: unknown('no timestamp yet (legal_posture "signed")') };
  if (!anchors?.length) {
    return {
      claim: unknown(
        'a timestamp token is present but no TSA trust anchors were given to check it',
      ),
    };
  }
  // Loaded on first use: a verifier that meets no token never loads PKI.js (start-up time).
  const { TspError, verifyTimestampToken } = await import('@quittance/tsp');
  const imprint = await timestampImprint(receipt.jws);
  let token: Uint8Array;
  try {
    token = fromBase64(receipt.timestamp.token);
  } catch {
    return { claim: refuted('timestamp token is not base64') };
  }
  try {
    const verified = await verifyTimestampToken(token, {
      imprint,
      trustAnchors: anchors,
      notBefore: earliestGenTime(receipt.createdAt),
    });
    if (Date.parse(receipt.timestamp.genTime) !== verified.genTime.getTime()) {
      return {
        claim: refuted(
          `envelope genTime ${receipt.timestamp.genTime} differs from the token's ${verified.genTime.toISOString()}`,
        ),
      };
    }
    if (receipt.timestamp.policy !== verified.policy) {
      return {
        claim: refuted(
          `envelope policy ${receipt.timestamp.policy} differs from the token's ${verified.policy}`,
        ),
      };
    }
    const genTime = verified.genTime.toISOString();
    const accuracy = verified.accuracyMs ? ` ± ${verified.accuracyMs} ms` : '';
    return {
      claim: asserted(
        `RFC 3161 token by ${verified.tsa} over this signature, genTime ${genTime}${accuracy}, chains to a given TSA anchor`,
      ),
      // What it signed existed by the latest time the token allows: genTime plus its accuracy.
      proof: {
        time: new Date(verified.genTime.getTime() + verified.accuracyMs).toISOString(),
        evidence: `its RFC 3161 timestamp (genTime ${genTime}${accuracy})`,
      },
    };
  } catch (error) {
    if (error instanceof TspError)
      return { claim: refuted(`timestamp token: ${error.code}: ${error.message}`) };
    throw error;
  }
}

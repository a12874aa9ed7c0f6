import {
  base64url,
  canonicalBytes,
  checkpointSignedPart,
  JWS_TYPES,
  rfc3339Millis,
  summarize,
  validateCheckpoint,
} from '@quittance/format';
import { asserted, type Claim, refuted, unknown } from './claims';
import { isKeyHistory, type KeyHistory, loadKeyHistory, type PublisherKeys } from './key-history';
import { checkKeyValidity, checkSignature, checkTimestamp } from './signed-evidence';

export interface CheckpointClaims {
  signature_valid: Claim;
  key_valid_at_issuance: Claim;
  timestamp_valid: Claim;
  /** The checkpoint's entryHash against the chain entry at its seq, when the chain is given. */
  chain_linked: Claim;
  snapshot_authentic: Claim;
}

export interface CheckpointReport {
  merchantId: string;
  seq: number;
  claims: CheckpointClaims;
  /** genTime plus accuracy of its verified timestamp: by then the log up to `seq` existed. */
  provenAt?: string;
}

/**
 * Verifies a signed checkpoint (SPEC §6) with the same steps as a receipt: its JWS by the
 * merchant key, the key's validity at `createdAt`, its RFC 3161 timestamp, and, given the
 * chain entry at `seq`, that it names that entry.
 */
export async function verifyCheckpoint(
  checkpoint: unknown,
  keySet: unknown,
  options: {
    publisher?: PublisherKeys;
    tsaTrustAnchors?: Uint8Array[];
    chainEntry?: { seq: number; entryHash: string };
    /**
     * Whether a verified timestamp proves when the checkpoint existed, for a key revoked
     * after its createdAt (default true). False when the TSA roots are not the auditor's
     * own (a bundle's `tsa/`): the timestamp is still checked, but proves no time.
     */
    timestampProvesTime?: boolean;
  } = {},
): Promise<CheckpointReport> {
  const history: KeyHistory = isKeyHistory(keySet) ? keySet : await loadKeyHistory(keySet, options);
  const validation = validateCheckpoint(checkpoint);
  const raw = checkpoint as { merchantId?: unknown; seq?: unknown } | null;
  if (!validation.ok) {
    const malformed = unknown('checkpoint is malformed');
    return {
      merchantId: String(raw?.merchantId ?? ''),
      seq: Number(raw?.seq ?? 0),
      claims: {
        signature_valid: refuted(`not a well-formed checkpoint: ${summarize(validation.issues)}`),
        key_valid_at_issuance: malformed,
        timestamp_valid: malformed,
        chain_linked: malformed,
        snapshot_authentic: history.authentic,
      },
    };
  }
  const cp = validation.value;
  const payloadB64 = base64url(canonicalBytes(checkpointSignedPart(cp)));
  const timestamp = await checkTimestamp(cp, options.tsaTrustAnchors);
  const proof = options.timestampProvesTime === false ? undefined : timestamp.proof;
  let chain_linked: Claim = unknown(`the chain entry at seq ${cp.seq} was not given`);
  if (options.chainEntry) {
    chain_linked =
      options.chainEntry.seq === cp.seq && options.chainEntry.entryHash === cp.entryHash
        ? asserted(`names the chain entry at seq ${cp.seq}`)
        : refuted(`entryHash does not match the chain entry at seq ${cp.seq}`);
  }
  return {
    merchantId: cp.merchantId,
    seq: cp.seq,
    claims: {
      signature_valid: await checkSignature(cp, payloadB64, history, JWS_TYPES.checkpoint),
      // Its key's window is compared in UTC milliseconds, as a receipt's createdAt is written.
      key_valid_at_issuance: checkKeyValidity(
        { ...cp, createdAt: new Date(rfc3339Millis(cp.createdAt) as number).toISOString() },
        history,
        proof,
      ),
      timestamp_valid: timestamp.claim,
      chain_linked,
      snapshot_authentic: history.authentic,
    },
    ...(proof ? { provenAt: proof.time } : {}),
  };
}

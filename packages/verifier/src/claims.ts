export type ClaimStatus = 'asserted' | 'refuted' | 'unknown';
export type ClaimSource = 'verifier_derived' | 'operator_asserted';

/** One finding of the report (SPEC §10): never a bare boolean. */
export interface Claim {
  status: ClaimStatus;
  source: ClaimSource;
  reason: string;
}

export const asserted = (reason: string, source: ClaimSource = 'verifier_derived'): Claim => ({
  status: 'asserted',
  source,
  reason,
});
export const refuted = (reason: string): Claim => ({
  status: 'refuted',
  source: 'verifier_derived',
  reason,
});
export const unknown = (reason: string): Claim => ({
  status: 'unknown',
  source: 'verifier_derived',
  reason,
});

/** Claims of one receipt, in the order the verification steps produce them. */
export interface ReceiptClaims {
  signature_valid: Claim;
  key_valid_at_issuance: Claim;
  timestamp_valid: Claim;
  chain_linked: Claim;
  /**
   * SPEC §10: an inclusion proof recomputes the rootHash of a checkpoint whose signature
   * verifies with a key valid at its createdAt; `unknown` without a proof. `verifyReceipt`
   * always sets it; optional only so that reports made elsewhere (a bundle's unreadable
   * line) type-check until they set it too.
   */
  included_in_log?: Claim;
  snapshot_authentic: Claim;
  /** Only when a body was disclosed. */
  body_matches?: Claim;
}

export interface ReceiptReport {
  id: string;
  claims: ReceiptClaims;
}

export interface VerificationReport {
  ok: boolean;
  claims: Record<string, Claim>;
  receipts: ReceiptReport[];
}

export function isRefuted(claims: object): boolean {
  return Object.values(claims).some((claim) => (claim as Claim | undefined)?.status === 'refuted');
}

/** The report's `ok`: no claim anywhere is refuted. */
export function toReport(
  claims: Record<string, Claim>,
  receipts: ReceiptReport[],
): VerificationReport {
  const ok = !isRefuted(claims) && receipts.every((r) => !isRefuted(r.claims));
  return { ok, claims, receipts };
}

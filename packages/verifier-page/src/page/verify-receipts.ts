import {
  loadKeyHistory,
  type PublisherKeys,
  type VerificationReport,
  verifyReceipts as verifyWithHistory,
} from '@quittance/verifier';

export interface ReceiptsInput {
  receipts: unknown[];
  snapshot: unknown;
  proof?: unknown;
  publisher?: PublisherKeys;
  tsaTrustAnchors?: Uint8Array[];
}

/**
 * What `quittance verify RECEIPT.json --jwks SNAPSHOT [--publisher] [--tsa-trust] [--proof]`
 * does: one key history, then the verifier's verifyReceipts (which receipt gets the proof is
 * its rule), the report of SPEC §10.
 */
export async function verifyReceipts(
  input: ReceiptsInput,
  onProgress: (done: number, total: number) => void,
): Promise<VerificationReport> {
  const history = await loadKeyHistory(
    input.snapshot,
    input.publisher ? { publisher: input.publisher } : {},
  );
  return verifyWithHistory(input.receipts, history, {
    tsaTrustAnchors: input.tsaTrustAnchors,
    ...(input.proof !== undefined ? { proof: input.proof } : {}),
    onProgress,
  });
}

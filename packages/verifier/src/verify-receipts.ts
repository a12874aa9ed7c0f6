import { duplicateMemberProblem, MAX_JSON_DEPTH, nestingExceeds, parserWords } from './bundle/json';
import { type ReceiptReport, toReport, type VerificationReport } from './claims';
import type { KeyHistory } from './key-history';
import { verifyReceipt } from './verify-receipt';

// A receipts file and its verification, as `quittance verify RECEIPT.json` and the verifier
// page both do it: one reading of the file, one rule for which receipt gets the proof.

/** Why a receipts file holds no receipts to verify. */
export type ReceiptsFileProblem =
  /** The file is empty or white space. */
  | { code: 'empty' }
  /** JSON nests deeper than MAX_JSON_DEPTH: the whole document, or JSON Lines line `line`. */
  | { code: 'too_deep'; line?: number }
  /** Neither JSON nor JSON Lines: line `line` is not JSON (`reason` is the parser's words). */
  | { code: 'not_json'; line: number; reason: string }
  /** Valid, but it holds no receipt (an empty array, or only blank lines). */
  | { code: 'no_receipt' }
  /** A member name twice in one object (the document, or line `line`): `reason` says which. */
  | { code: 'duplicate_member'; line?: number; reason: string }
  /** More than MAX_RECEIPTS_IN_FILE receipts: verify them as a bundle, or in parts. */
  | { code: 'too_many'; count: number };

/**
 * Receipts one file may hold: every report is kept and printed, so memory grows with them
 * (200,000 receipts of `{}`, 600 KB, took the command line past 4 GB; 100,000 still took
 * 3.6 s and 724 MB once reasons were printed in one pass). An order's listing holds at most
 * 10,000; more receipts go in an export bundle, which is streamed.
 */
export const MAX_RECEIPTS_IN_FILE = 50_000;

/** A receipts file that cannot be read; each caller words `problem` for its reader. */
export class ReceiptsFileError extends Error {
  constructor(readonly problem: ReceiptsFileProblem) {
    super(`receipts file: ${problem.code}`);
    this.name = 'ReceiptsFileError';
  }
}

/**
 * The receipts of a file: one receipt, an array, an API answer `{receipts: [...]}` (the list
 * and by-order answers), or JSON Lines. Throws ReceiptsFileError.
 */
export function parseReceipts(text: string): unknown[] {
  if (text.trim() === '') throw new ReceiptsFileError({ code: 'empty' });
  let whole: unknown;
  let isJson = true;
  try {
    whole = JSON.parse(text);
  } catch {
    isJson = false;
  }
  let receipts: unknown[];
  if (isJson) {
    if (nestingExceeds(text, MAX_JSON_DEPTH)) throw new ReceiptsFileError({ code: 'too_deep' });
    const duplicate = duplicateMemberProblem(text);
    if (duplicate) throw new ReceiptsFileError({ code: 'duplicate_member', reason: duplicate });
    if (Array.isArray(whole)) receipts = whole;
    else if (Array.isArray((whole as { receipts?: unknown } | null)?.receipts))
      receipts = (whole as { receipts: unknown[] }).receipts;
    else receipts = [whole];
  } else {
    receipts = [];
    for (const [i, line] of text.split('\n').entries()) {
      if (line.trim() === '') continue;
      let receipt: unknown;
      try {
        receipt = JSON.parse(line);
      } catch (error) {
        throw new ReceiptsFileError({
          code: 'not_json',
          line: i + 1,
          reason: parserWords(error),
        });
      }
      if (nestingExceeds(line, MAX_JSON_DEPTH))
        throw new ReceiptsFileError({ code: 'too_deep', line: i + 1 });
      const duplicate = duplicateMemberProblem(line);
      if (duplicate)
        throw new ReceiptsFileError({ code: 'duplicate_member', line: i + 1, reason: duplicate });
      receipts.push(receipt);
    }
  }
  if (receipts.length === 0) throw new ReceiptsFileError({ code: 'no_receipt' });
  if (receipts.length > MAX_RECEIPTS_IN_FILE)
    throw new ReceiptsFileError({ code: 'too_many', count: receipts.length });
  return receipts;
}

export interface VerifyReceiptsOptions {
  /** An inclusion proof (SPEC §6.1), as parsed from JSON. */
  proof?: unknown;
  /** DER certificates of the TSA trust anchors. */
  tsaTrustAnchors?: Uint8Array[] | undefined;
  /** Called every 50 receipts and once at the end. */
  onProgress?: (done: number, total: number) => void;
}

const idOf = (value: unknown) => (value as { id?: unknown } | null)?.id;

/**
 * Verifies receipts against one key history: the report of SPEC §10. An inclusion proof
 * belongs to the receipt it names; a proof that names none of them is given to each, whose
 * `included_in_log` it then refutes (a proof of another receipt proves nothing about these).
 */
export async function verifyReceipts(
  receipts: readonly unknown[],
  history: KeyHistory,
  options: VerifyReceiptsOptions = {},
): Promise<VerificationReport> {
  const { proof, tsaTrustAnchors, onProgress } = options;
  const named = (proof as { receiptId?: unknown } | null | undefined)?.receiptId;
  const anyNamed = receipts.some((r) => idOf(r) === named);
  const reports: ReceiptReport[] = [];
  for (const [i, receipt] of receipts.entries()) {
    const gets = proof !== undefined && (!anyNamed || idOf(receipt) === named);
    reports.push(
      await verifyReceipt(receipt, history, {
        ...(tsaTrustAnchors ? { tsaTrustAnchors } : {}),
        ...(gets ? { proof } : {}),
      }),
    );
    if (i % 50 === 49) onProgress?.(i + 1, receipts.length);
  }
  onProgress?.(receipts.length, receipts.length);
  return toReport({}, reports);
}

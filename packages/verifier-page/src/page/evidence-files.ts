import {
  duplicateMemberProblem,
  MAX_JSON_DEPTH,
  MAX_RECEIPTS_IN_FILE,
  nestingExceeds,
  parseReceipts as parseReceiptsText,
  ReceiptsFileError,
  type ReceiptsFileProblem,
} from '@quittance/verifier';

// What each dropped or picked file is, read the way `quittance verify` reads its arguments.

/** The role a file plays in a verification. */
export type EvidenceRole = 'receipts' | 'snapshot' | 'proof' | 'bundle' | 'publisher' | 'tsa';

export interface ClassifiedFile {
  file: File;
  role: EvidenceRole | undefined;
  /** Why the role could not be decided, in words for the reader. */
  problem?: string;
}

const ZIP_MAGIC = [0x04034b50, 0x06054b50];
/** Whole JSON and PEM inputs are read into memory; bundles are streamed. */
export const MAX_TEXT_FILE = 256 * 1024 * 1024;

/**
 * Guesses a file's role from its content, never its name alone: a zip is a bundle; PEM is a
 * TSA trust anchor; JSON is a proof (`auditPath`), a key set (`keys`: a snapshot when its keys
 * name a merchant, else a publisher key), or receipts.
 */
export async function classifyFile(file: File): Promise<ClassifiedFile> {
  const head = new Uint8Array(await file.slice(0, 4).arrayBuffer());
  if (head.length === 4) {
    const magic = new DataView(head.buffer).getUint32(0, true);
    if (ZIP_MAGIC.includes(magic)) return { file, role: 'bundle' };
  }
  if (/\.zip$/i.test(file.name))
    return {
      file,
      role: undefined,
      problem: file.size === 0 ? 'the zip file is empty' : 'it is named .zip but is not a zip',
    };
  if (file.size > MAX_TEXT_FILE)
    return { file, role: undefined, problem: `it is larger than ${MAX_TEXT_FILE >> 20} MiB` };
  const text = await file.text();
  if (/-----BEGIN CERTIFICATE-----/.test(text)) return { file, role: 'tsa' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // JSON Lines: each line one receipt.
    return { file, role: 'receipts' };
  }
  const object = value as Record<string, unknown> | null;
  if (object && typeof object === 'object' && !Array.isArray(object)) {
    if (Array.isArray(object.auditPath) || 'treeSize' in object) return { file, role: 'proof' };
    if (Array.isArray(object.keys)) {
      const namesMerchant = object.keys.some(
        (key) => typeof (key as { merchantId?: unknown } | null)?.merchantId === 'string',
      );
      const signed = 'jws' in object || 'period' in object;
      return { file, role: namesMerchant || signed ? 'snapshot' : 'publisher' };
    }
  }
  return { file, role: 'receipts' };
}

/**
 * A receipts file as the command line accepts it: one receipt, an array, an API answer
 * `{receipts: [...]}`, or JSON Lines. Throws with a message for the reader.
 */
export function parseReceipts(text: string, name: string): unknown[] {
  try {
    return parseReceiptsText(text);
  } catch (error) {
    if (error instanceof ReceiptsFileError)
      throw new Error(receiptsFileMessage(error.problem, name));
    throw error;
  }
}

function receiptsFileMessage(problem: ReceiptsFileProblem, name: string): string {
  switch (problem.code) {
    case 'empty':
      return `${name} is empty: there is no receipt in it`;
    case 'too_deep':
      return `${problem.line === undefined ? name : `${name} line ${problem.line}`} nests JSON deeper than ${MAX_JSON_DEPTH} levels`;
    case 'not_json':
      return `${name} is neither JSON nor JSON Lines: line ${problem.line} is not JSON (${problem.reason})`;
    case 'no_receipt':
      return `${name} holds no receipt`;
    case 'duplicate_member':
      return `${problem.line === undefined ? name : `${name} line ${problem.line}`} ${problem.reason}`;
    case 'too_many':
      return `${name} holds ${problem.count.toLocaleString('en')} receipts, more than ${MAX_RECEIPTS_IN_FILE.toLocaleString('en')}: verify them as an export bundle, or in parts`;
  }
}

/** One JSON document, or a message that names the file. */
export function parseJsonFile(text: string, name: string, what: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`The ${what} ${name} is not JSON: ${(error as Error).message}`);
  }
  assertDepth(text, `The ${what} ${name}`);
  return value;
}

/** The command line's depth limit: deeper JSON would exhaust the stack of what reads it. */
function assertDepth(text: string, where: string): void {
  if (nestingExceeds(text, MAX_JSON_DEPTH))
    throw new Error(`${where} nests JSON deeper than ${MAX_JSON_DEPTH} levels`);
  const duplicate = duplicateMemberProblem(text);
  if (duplicate) throw new Error(`${where} ${duplicate}`);
}

import {
  BundleError,
  loadKeyHistory,
  MAX_JSON_DEPTH,
  MAX_RECEIPTS_IN_FILE,
  type PublisherKeys,
  parseReceipts,
  ReceiptsFileError,
  type ReceiptsFileProblem,
  verifyReceipts,
} from '@quittance/verifier';
import {
  MAX_KEY_FILE,
  MiB,
  openFile,
  readJson,
  readPublisher,
  readText,
  readTsaTrust,
  UnreadableInput,
} from '../inputs';
import { printable, renderReport } from '../render';
import { UsageError } from '../usage';
import { verifyBundleCommand } from './verify-bundle';

/** The options of `quittance verify` (see VERIFY_USAGE). */
export interface VerifyOptions {
  jwks?: string | undefined;
  publisher?: string | undefined;
  'tsa-trust'?: string | undefined;
  proof?: string | undefined;
  json: boolean;
}

/** Receipt files are read whole (V8 strings stop at 512 MiB). */
const MAX_RECEIPT_FILE = 256 * MiB;

/**
 * Verifies one RECEIPT.json or BUNDLE.zip and prints the report; the exit status. Input that
 * cannot be read is one line on stderr (exit 2), never a stack.
 */
export async function verifyFile(file: string, values: VerifyOptions): Promise<number> {
  try {
    return await verify(file, values);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const message =
      error instanceof UnreadableInput || error instanceof BundleError
        ? error.message
        : // A bug, not the input's fault: still one line, never a stack.
          `cannot verify ${file}: ${error instanceof Error ? error.message : String(error)} (unexpected; please report it)`;
    process.stderr.write(`quittance: ${printable(message.replace(/\s*\n\s*/g, ' '))}\n`);
    return 2;
  }
}

async function verify(file: string, values: VerifyOptions): Promise<number> {
  const kind = await inputKind(file);
  const publisher: PublisherKeys | undefined = values.publisher
    ? await readPublisher(values.publisher)
    : undefined;
  const tsaTrustAnchors = values['tsa-trust'] ? await readTsaTrust(values['tsa-trust']) : undefined;
  if (kind === 'zip') {
    if (values.proof) throw new UsageError('--proof goes with RECEIPT.json, not with a bundle');
    if (!publisher)
      throw new UsageError(
        'verify BUNDLE.zip needs --publisher PUBLISHER.json (the pinned root of trust)',
      );
    return verifyBundleCommand(file, { publisher, tsaTrustAnchors, json: values.json });
  }
  if (kind === 'not-zip') throw new UnreadableInput(`${file} is not a zip file`);
  if (kind === 'empty-zip') throw new UnreadableInput(`${file} is not a zip file: it is empty`);
  if (!values.jwks) throw new UsageError('verify RECEIPT.json needs --jwks SNAPSHOT.json');
  const receipts = await readReceipts(file);
  const snapshot = await readJson(values.jwks, 'key snapshot', MAX_KEY_FILE);
  let history: Awaited<ReturnType<typeof loadKeyHistory>>;
  try {
    history = await loadKeyHistory(snapshot, publisher ? { publisher } : {});
  } catch (error) {
    throw new UnreadableInput(`${values.jwks}: ${(error as Error).message}`);
  }
  const proof = values.proof
    ? await readJson(values.proof, 'inclusion proof', MAX_KEY_FILE)
    : undefined;
  const report = await verifyReceipts(receipts, history, {
    tsaTrustAnchors,
    ...(proof !== undefined ? { proof } : {}),
  });
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
  return report.ok ? 0 : 1;
}

/**
 * What the positional file is: a zip (local file header, or the end record of an empty
 * zip), something named `*.zip` that is not one, or anything else (receipts).
 */
async function inputKind(path: string): Promise<'zip' | 'not-zip' | 'empty-zip' | 'receipts'> {
  const handle = await openFile(path, '', Number.MAX_SAFE_INTEGER);
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(4), 0, 4, 0);
    const magic = bytesRead === 4 ? buffer.readUInt32LE(0) : 0;
    if (magic === 0x04034b50 || magic === 0x06054b50) return 'zip';
    if (/\.zip$/i.test(path)) return bytesRead === 0 ? 'empty-zip' : 'not-zip';
    return 'receipts';
  } catch (error) {
    if (error instanceof UnreadableInput) throw error;
    throw new UnreadableInput(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code}`);
  } finally {
    await handle.close();
  }
}

/** A receipts file: one receipt, an array, an API answer `{receipts: [...]}`, or JSON Lines. */
async function readReceipts(path: string): Promise<unknown[]> {
  const text = await readText(path, 'receipt file', MAX_RECEIPT_FILE);
  try {
    return parseReceipts(text);
  } catch (error) {
    if (error instanceof ReceiptsFileError)
      throw new UnreadableInput(receiptsFileMessage(error.problem, path));
    throw error;
  }
}

function receiptsFileMessage(problem: ReceiptsFileProblem, path: string): string {
  const tooDeep = `nests JSON deeper than ${MAX_JSON_DEPTH} levels`;
  const notJsonLines = `receipt file ${path} is neither JSON nor JSON Lines`;
  switch (problem.code) {
    case 'empty':
      return `no receipt in ${path}: the file is empty`;
    case 'too_deep':
      return problem.line === undefined
        ? `receipt file ${path} ${tooDeep}`
        : `${notJsonLines}: line ${problem.line} ${tooDeep}`;
    case 'not_json':
      return `${notJsonLines}: line ${problem.line} is not JSON: ${problem.reason}`;
    case 'no_receipt':
      return `no receipt in ${path}`;
    case 'duplicate_member':
      return `receipt file ${path}${problem.line === undefined ? '' : ` line ${problem.line}`} ${problem.reason}`;
    case 'too_many':
      return `receipt file ${path} holds ${problem.count.toLocaleString('en')} receipts, more than ${MAX_RECEIPTS_IN_FILE.toLocaleString('en')}: verify them as an export bundle, or in parts`;
  }
}

import { parseArgs } from 'node:util';
import { BundleError } from '@quittance/bundle';
import { loadKeyHistory, type PublisherKeys, toReport, verifyReceipt } from '@quittance/verifier';
import {
  MAX_KEY_FILE,
  MiB,
  openFile,
  parseJsonText,
  readJson,
  readPublisher,
  readText,
  readTsaTrust,
  UnreadableInput,
} from '../inputs';
import { renderReport } from '../render';
import { UsageError } from '../usage';
import { printable, verifyBundleCommand } from './verify-bundle';

/** Receipt files are read whole (V8 strings stop at 512 MiB). */
const MAX_RECEIPT_FILE = 256 * MiB;

/** `quittance verify`: exit 0 when no claim is refuted, 1 when one is, 2 on unreadable input. */
export async function verifyCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOrThrow(argv);
  if (positionals.length !== 1)
    throw new UsageError('verify takes exactly one RECEIPT.json or BUNDLE.zip');
  const file = positionals[0] as string;
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

async function verify(
  file: string,
  values: ReturnType<typeof parseOrThrow>['values'],
): Promise<number> {
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
  // An inclusion proof (SPEC §6.1) belongs to the receipt it names; a proof that names none
  // of them is given to each, whose included_in_log it then refutes.
  const proof = values.proof
    ? await readJson(values.proof, 'inclusion proof', MAX_KEY_FILE)
    : undefined;
  const idOf = (value: unknown) => (value as { id?: unknown } | null)?.id;
  const named = (proof as { receiptId?: unknown } | null | undefined)?.receiptId;
  const anyNamed = receipts.some((r) => idOf(r) === named);
  const reports = [];
  for (const receipt of receipts) {
    const gets = proof !== undefined && (!anyNamed || idOf(receipt) === named);
    reports.push(
      await verifyReceipt(receipt, history, {
        ...(tsaTrustAnchors ? { tsaTrustAnchors } : {}),
        ...(gets ? { proof } : {}),
      }),
    );
  }
  const report = toReport({}, reports);
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
  return report.ok ? 0 : 1;
}

function parseOrThrow(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        jwks: { type: 'string' },
        publisher: { type: 'string' },
        'tsa-trust': { type: 'string' },
        proof: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
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
  if (text.trim() === '') throw new UnreadableInput(`no receipt in ${path}: the file is empty`);
  let receipts: unknown[];
  let whole: unknown;
  let isJson = true;
  try {
    whole = JSON.parse(text);
  } catch {
    isJson = false;
  }
  if (isJson) {
    parseJsonText(text, `receipt file ${path}`); // the depth check
    if (Array.isArray(whole)) receipts = whole;
    // The API's list and by-order answers: { receipts: [...] }.
    else if (Array.isArray((whole as { receipts?: unknown } | null)?.receipts))
      receipts = (whole as { receipts: unknown[] }).receipts;
    else receipts = [whole];
  } else {
    receipts = [];
    for (const [i, line] of text.split('\n').entries()) {
      if (line.trim() === '') continue;
      try {
        receipts.push(parseJsonText(line, `line ${i + 1}`));
      } catch (error) {
        throw new UnreadableInput(
          `receipt file ${path} is neither JSON nor JSON Lines: ${(error as Error).message}`,
        );
      }
    }
  }
  if (receipts.length === 0) throw new UnreadableInput(`no receipt in ${path}`);
  return receipts;
}

import { type FileHandle, open } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { BundleError, MAX_JSON_DEPTH, nestingExceeds } from '@quittance/bundle';
import { parsePemCertificates } from '@quittance/tsp';
import {
  loadKeyHistory,
  type PublisherKeys,
  parsePublisherKeys,
  toReport,
  verifyReceipt,
} from '@quittance/verifier';
import { renderReport } from '../render';
import { UsageError } from '../usage';
import { printable, verifyBundleCommand } from './verify-bundle';

/**
 * Input that cannot be read (SPEC §10, exit status 2): a missing file, a directory, a file
 * that is not what it should be. One line on stderr, no usage text, no stack.
 */
export class UnreadableInput extends Error {
  override readonly name = 'UnreadableInput';
}

const MiB = 1024 * 1024;
/** Receipt files are read whole (V8 strings stop at 512 MiB); key files are small. */
const MAX_RECEIPT_FILE = 256 * MiB;
const MAX_KEY_FILE = 64 * MiB;

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
  let publisher: PublisherKeys | undefined;
  if (values.publisher) {
    const document = await readJson(values.publisher, 'publisher key file', MAX_KEY_FILE);
    try {
      publisher = parsePublisherKeys(document);
    } catch (error) {
      throw new UnreadableInput(`${values.publisher}: ${(error as Error).message}`);
    }
  }
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

/** Opens a regular file for reading, or says in one line why it cannot be read. */
async function openFile(path: string, what: string, max: number): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why: Record<string, string> = {
      ENOENT: 'no such file',
      EACCES: 'permission denied',
      EISDIR: 'it is a directory',
    };
    throw new UnreadableInput(
      `cannot read ${what}${what ? ' ' : ''}${path}: ${code ?? error}${code && why[code] ? ` (${why[code]})` : ''}`,
    );
  }
  try {
    const stats = await handle.stat();
    if (stats.isDirectory())
      throw new UnreadableInput(`${path} is a directory; give the ${what || 'file'} itself`);
    if (!stats.isFile()) throw new UnreadableInput(`${path} is not a regular file`);
    if (stats.size > max)
      throw new UnreadableInput(
        `${what}${what ? ' ' : ''}${path} is ${Math.ceil(stats.size / MiB)} MiB; the limit is ${max / MiB} MiB`,
      );
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
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

async function readText(path: string, what: string, max: number): Promise<string> {
  const handle = await openFile(path, what, max);
  try {
    return await handle.readFile('utf8');
  } catch (error) {
    throw new UnreadableInput(
      `cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  } finally {
    await handle.close();
  }
}

/** JSON text, refused when it is not JSON or nests deeper than the bundle limit. */
function parseJsonText(text: string, where: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UnreadableInput(`${where} is not JSON: ${(error as Error).message}`);
  }
  if (nestingExceeds(text, MAX_JSON_DEPTH))
    throw new UnreadableInput(`${where} nests JSON deeper than ${MAX_JSON_DEPTH} levels`);
  return value;
}

async function readJson(path: string, what: string, max: number): Promise<unknown> {
  return parseJsonText(await readText(path, what, max), `${what} ${path}`);
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

/** PEM file of TSA trust anchors (the CA certificates the timestamps must chain to). */
async function readTsaTrust(path: string): Promise<Uint8Array[]> {
  const pem = await readText(path, 'TSA trust file', MAX_KEY_FILE);
  let anchors: Uint8Array[];
  try {
    anchors = parsePemCertificates(pem);
  } catch (error) {
    throw new UnreadableInput(`TSA trust file ${path}: ${(error as Error).message}`);
  }
  if (anchors.length === 0)
    throw new UnreadableInput(`TSA trust file ${path} holds no PEM certificate`);
  return anchors;
}

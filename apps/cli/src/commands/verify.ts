import { open, readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parsePemCertificates } from '@quittance/tsp';
import {
  loadKeyHistory,
  type PublisherKeys,
  parsePublisherKeys,
  toReport,
  VerifierError,
  verifyReceipt,
} from '@quittance/verifier';
import { readJsonFile, readReceiptsFile } from '../read-json';
import { renderReport } from '../render';
import { UsageError } from '../usage';
import { verifyBundleCommand } from './verify-bundle';

/** `quittance verify`: exit 0 when no claim is refuted, 1 when one is, 2 on unreadable input. */
export async function verifyCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOrThrow(argv);
  if (positionals.length !== 1)
    throw new UsageError('verify takes exactly one RECEIPT.json or BUNDLE.zip');
  const file = positionals[0] as string;

  let publisher: PublisherKeys | undefined;
  if (values.publisher) {
    try {
      publisher = parsePublisherKeys(await readJsonFile(values.publisher, 'publisher key file'));
    } catch (error) {
      if (error instanceof VerifierError)
        throw new UsageError(`${values.publisher}: ${error.message}`);
      throw error;
    }
  }
  const tsaTrustAnchors = values['tsa-trust'] ? await readTsaTrust(values['tsa-trust']) : undefined;
  if (await isZip(file)) {
    if (!publisher)
      throw new UsageError(
        'verify BUNDLE.zip needs --publisher PUBLISHER.json (the pinned root of trust)',
      );
    return verifyBundleCommand(file, { publisher, tsaTrustAnchors, json: values.json });
  }
  if (!values.jwks) throw new UsageError('verify RECEIPT.json needs --jwks SNAPSHOT.json');
  const receipts = await readReceiptsFile(file);
  const snapshot = await readJsonFile(values.jwks, 'key snapshot');
  let history: Awaited<ReturnType<typeof loadKeyHistory>>;
  try {
    history = await loadKeyHistory(snapshot, publisher ? { publisher } : {});
  } catch (error) {
    if (error instanceof VerifierError) throw new UsageError(`${values.jwks}: ${error.message}`);
    throw error;
  }
  const reports = [];
  for (const receipt of receipts) {
    reports.push(await verifyReceipt(receipt, history, tsaTrustAnchors ? { tsaTrustAnchors } : {}));
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
        json: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** PEM file of TSA trust anchors (the CA certificates the timestamps must chain to). */
async function readTsaTrust(path: string): Promise<Uint8Array[]> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `cannot read TSA trust file ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
  const anchors = parsePemCertificates(pem);
  if (anchors.length === 0) throw new UsageError(`TSA trust file ${path} holds no PEM certificate`);
  return anchors;
}

/** A zip starts with a local file header, "PK\x03\x04". */
async function isZip(path: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(4), 0, 4, 0);
    return bytesRead === 4 && buffer.readUInt32LE(0) === 0x04034b50;
  } finally {
    await handle.close();
  }
}

import { parsePemCertificates } from '@quittance/tsp';
import { type PublisherKeys, parsePublisherKeys } from '@quittance/verifier';
import { MAX_TEXT_FILE, parseJsonFile, parseReceipts } from './evidence-files';
import type { VerifyRequest, WorkerMessage } from './protocol';
import { ReportCollector } from './report-collector';
import { type PageResult, type TimelineFacts, toTimelineFacts } from './report-model';
import { verifyBundleFile } from './verify-bundle-file';
import { verifyReceipts } from './verify-receipts';

interface WorkerScope {
  onmessage: ((event: MessageEvent<VerifyRequest>) => void) | null;
  postMessage(message: WorkerMessage): void;
}

/** The worker side: one verification per message; the page terminates it to cancel. */
export function startWorker(scope: WorkerScope): void {
  scope.onmessage = async (event) => {
    const post = (message: WorkerMessage) => scope.postMessage(message);
    try {
      const result = await verify(event.data, (done, total, phase) =>
        post({ type: 'progress', done, total, phase }),
      );
      post({ type: 'result', result });
    } catch (error) {
      post({ type: 'error', message: messageOf(error) });
    }
  };
}

type Progress = (done: number, total: number, phase: string) => void;

function verify(request: VerifyRequest, progress: Progress): Promise<PageResult> {
  const publisher = request.publisher === undefined ? undefined : readPublisher(request.publisher);
  const tsaTrustAnchors =
    request.tsaTrust === undefined ? undefined : parsePemCertificates(request.tsaTrust);
  const pinned = { publisher: publisher !== undefined, tsa: tsaTrustAnchors !== undefined };
  if (request.type === 'bundle') {
    if (!publisher) throw new Error('Pin the publisher key first: a bundle is checked against it.');
    return verifyBundleFile(request.bundle, { publisher, tsaTrustAnchors }, progress).then(
      (result) => ({ ...result, pinned }),
    );
  }
  return verifyReceiptFiles(request, { publisher, tsaTrustAnchors, pinned }, progress);
}

async function verifyReceiptFiles(
  request: Extract<VerifyRequest, { type: 'receipts' }>,
  trust: {
    publisher: PublisherKeys | undefined;
    tsaTrustAnchors: Uint8Array[] | undefined;
    pinned: PageResult['pinned'];
  },
  progress: Progress,
): Promise<PageResult> {
  const receipts = parseReceipts(await readText(request.receipts), request.receipts.name);
  const snapshot = parseJsonFile(
    await readText(request.snapshot),
    request.snapshot.name,
    'key snapshot',
  );
  const proof = request.proof
    ? parseJsonFile(await readText(request.proof), request.proof.name, 'inclusion proof')
    : undefined;
  const report = await verifyReceipts(
    {
      receipts,
      snapshot,
      ...(proof === undefined ? {} : { proof }),
      ...(trust.publisher ? { publisher: trust.publisher } : {}),
      ...(trust.tsaTrustAnchors ? { tsaTrustAnchors: trust.tsaTrustAnchors } : {}),
    },
    (done, total) => progress(done, total, 'receipts'),
  );
  const facts = receipts
    .map((receipt, i) => toTimelineFacts(receipt, i))
    .filter((f): f is TimelineFacts => f !== undefined);
  const collector = new ReportCollector();
  collector.trackVerdicts();
  for (const receipt of report.receipts) collector.add(receipt);
  const names = [request.receipts, request.snapshot, request.proof].filter((f) => f !== undefined);
  return {
    subject: names.map((f) => f.name).join(', '),
    ok: report.ok,
    ...collector.summary(report.claims),
    timeline: collector.timeline(facts),
    // As `quittance verify RECEIPT.json --json` prints it (at most 50,000 receipts).
    report: new Blob([`${JSON.stringify(report, null, 2)}\n`], { type: 'application/json' }),
    pinned: trust.pinned,
  };
}

async function readText(file: File): Promise<string> {
  if (file.size > MAX_TEXT_FILE)
    throw new Error(`${file.name} is larger than ${MAX_TEXT_FILE >> 20} MiB`);
  return file.text();
}

function readPublisher(text: string): PublisherKeys {
  try {
    return parsePublisherKeys(JSON.parse(text));
  } catch (error) {
    throw new Error(`The pinned publisher key cannot be used: ${messageOf(error)}`);
  }
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

import { parentPort, workerData } from 'node:worker_threads';
import { verifyWorkItems } from '../bundle/runner';
import type { WorkerInit } from '../bundle/work';
import { loadKeyHistory, parsePublisherKeys } from '../key-history';
import type { WorkerJob } from './receipt-pool';
import { encodeReports } from './report-codec';

/** Verifies batches of receipts against the key history it loaded once. */
const init = workerData as WorkerInit;
const history = await loadKeyHistory(JSON.parse(init.snapshot), {
  publisher: parsePublisherKeys(init.publisher),
});
const anchors = { certs: init.anchors.map((a) => new Uint8Array(a)), pinned: init.anchorsPinned };

parentPort?.on('message', async (job: WorkerJob) => {
  const reports = await verifyWorkItems(job.items, history, anchors);
  parentPort?.postMessage({ id: job.id, reports: encodeReports(reports, init.refutedReasonsOnly) });
});

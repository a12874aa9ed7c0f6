import { parentPort, workerData } from 'node:worker_threads';
import { loadKeyHistory, parsePublisherKeys, verifyReceipt } from '@quittance/verifier';
import { uncheckable, type WorkerInit, type WorkerJob } from './parallel';

/** Verifies batches of receipts against the key history it loaded once. */
const init = workerData as WorkerInit;
const history = await loadKeyHistory(JSON.parse(init.snapshot), {
  publisher: parsePublisherKeys(init.publisher),
});
const anchors = init.anchors.map((a) => new Uint8Array(a));

parentPort?.on('message', async (job: WorkerJob) => {
  const reports = [];
  for (const item of job.items) {
    try {
      reports.push(
        await verifyReceipt(item.receipt, history, {
          tsaTrustAnchors: anchors,
          timestampProvesExistence: init.anchorsPinned,
          ...(item.previousEntry ? { previousEntry: item.previousEntry } : {}),
          ...(item.existedBy ? { existedBy: item.existedBy } : {}),
          ...(item.bodies ? { bodies: item.bodies } : {}),
          ...(item.proof !== undefined ? { proof: item.proof } : {}),
        }),
      );
    } catch (error) {
      reports.push(uncheckable(item.receipt, error));
    }
  }
  parentPort?.postMessage({ id: job.id, reports });
});

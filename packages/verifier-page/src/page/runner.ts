import type { VerifyRequest, WorkerMessage } from './protocol';
import { startWorker } from './worker';

/** How a run ended: the worker's result or error message, or the reader's cancel. */
export type Outcome = (WorkerMessage & { type: 'result' | 'error' }) | { type: 'cancelled' };

export interface Run {
  /** Settles with the outcome; never rejects. */
  done: Promise<Outcome>;
  cancel(): void;
}

/**
 * Runs one verification in a Web Worker made from this page's own script (a Blob URL, so the
 * page stays one file that works from disk); cancelling terminates the worker, which frees
 * whatever it held at once. Where a browser refuses the worker, the same code runs here.
 */
export function startRun(
  scriptText: string,
  request: VerifyRequest,
  onProgress: (message: WorkerMessage & { type: 'progress' }) => void,
): Run {
  let settle!: (outcome: Outcome) => void;
  const done = new Promise<Outcome>((resolve) => {
    settle = resolve;
  });
  const onMessage = (message: WorkerMessage) => {
    if (message.type === 'progress') onProgress(message);
    else settle(message);
  };

  let worker: Worker | undefined;
  let url: string | undefined;
  try {
    url = URL.createObjectURL(new Blob([scriptText], { type: 'text/javascript' }));
    worker = new Worker(url, { name: 'quittance-verifier' });
  } catch {
    worker = undefined;
  }
  if (worker) {
    worker.onmessage = (event: MessageEvent<WorkerMessage>) => onMessage(event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      settle({ type: 'error', message: `The verifier stopped: ${event.message}` });
    };
    worker.postMessage(request);
  } else {
    const scope = {
      onmessage: null as ((event: MessageEvent<VerifyRequest>) => void) | null,
      postMessage: onMessage,
    };
    startWorker(scope);
    scope.onmessage?.(new MessageEvent('message', { data: request }));
  }
  const cleanUp = () => {
    worker?.terminate();
    if (url) URL.revokeObjectURL(url);
  };
  done.then(cleanUp);
  return {
    done,
    cancel() {
      cleanUp();
      settle({ type: 'cancelled' });
    },
  };
}

import type { PageResult } from './report-model';

/** What the page asks the worker: the files as given, and the pinned roots of trust as text. */
export type VerifyRequest =
  | {
      type: 'receipts';
      receipts: File;
      snapshot: File;
      proof?: File;
      publisher?: string;
      tsaTrust?: string;
    }
  | { type: 'bundle'; bundle: File; publisher: string; tsaTrust?: string };

/** What the worker answers: progress, then one result or one error. */
export type WorkerMessage =
  | { type: 'progress'; done: number; total: number; phase: string }
  | { type: 'result'; result: PageResult }
  | { type: 'error'; message: string };

// One script for both sides: the page, and the Web Worker it makes from this same text.
import { startPage } from './page';
import { startWorker } from './worker';

if (typeof document === 'undefined') {
  startWorker(globalThis as unknown as Parameters<typeof startWorker>[0]);
} else {
  const script = document.currentScript?.textContent ?? '';
  if (document.readyState === 'loading')
    document.addEventListener('DOMContentLoaded', () => startPage(script));
  else startPage(script);
}

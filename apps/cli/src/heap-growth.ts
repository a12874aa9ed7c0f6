import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old generation grow past what the last full collection kept, in
 * percent: 100 is twice (what Go's GOGC=100 means). V8's own factor adapts up to 4 with how
 * fast collections are, so under issue 14's load one API process peaked anywhere between 133
 * and 215 MB resident from run to run; with 100 it peaked at 140–152 MB, at the same CPU per
 * receipt within the bench's noise (README, "Memory").
 */
export const HEAP_GROWING_PERCENT = 100;

/** The V8 flag to set, or undefined when node's own command line sets one already. */
export function heapGrowthFlag(execArgv: readonly string[]): string | undefined {
  return execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg))
    ? undefined
    : `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
}

/**
 * Bounds this process's old-generation growth. V8 reads the flag at each collection, so
 * setting it at start-up takes effect without a node command-line flag, however the service
 * is launched (npm start, the image, a process manager).
 */
export function boundHeapGrowth(): void {
  const flag = heapGrowthFlag(process.execArgv);
  if (flag) setFlagsFromString(flag);
}

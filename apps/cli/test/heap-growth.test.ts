import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HEAP_GROWING_PERCENT, heapGrowthFlag } from '../src/heap-growth';

const modulePath = fileURLToPath(new URL('../src/heap-growth.ts', import.meta.url));

describe('the old generation growth bound of quittance serve', () => {
  it('sets --heap-growing-percent unless node was started with one', () => {
    expect(heapGrowthFlag([])).toBe(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
    expect(heapGrowthFlag(['--max-old-space-size=512', '--import', 'tsx'])).toBe(
      `--heap-growing-percent=${HEAP_GROWING_PERCENT}`,
    );
    expect(heapGrowthFlag(['--heap-growing-percent=300'])).toBeUndefined();
    expect(heapGrowthFlag(['--heap_growing_percent', '30'])).toBeUndefined();
    expect(heapGrowthFlag(['--heap-growing-percentage=1'])).toBe(
      `--heap-growing-percent=${HEAP_GROWING_PERCENT}`,
    );
  });

  it('keeps a heap under about twice what it retains, where V8 alone let it grow to 3.5 times', () => {
    // 20 MB retained, and 3,000 rounds of short-lived arrays that live long enough to reach
    // the old generation. The first full collection is forced so that each run starts from
    // the same limit; the peak of the used heap is printed.
    const script = `(async () => {
      const { getHeapStatistics } = require('node:v8');
      if (process.argv[1] === 'bounded') (await import(${JSON.stringify(modulePath)})).boundHeapGrowth();
      const live = Array.from({ length: 20 }, () => Array.from({ length: 32768 }, (_, i) => ({ i })));
      globalThis.gc();
      let peak = 0;
      const ring = new Array(64);
      for (let round = 0; round < 3000; round++) {
        ring[round % 64] = Array.from({ length: 4096 }, (_, i) => ({ i, round }));
        peak = Math.max(peak, getHeapStatistics().used_heap_size);
      }
      process.stdout.write(String(peak / 2 ** 20 + live.length * 0));
    })()`;
    const peakMb = (mode: string) =>
      Number(
        execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', '-e', script, mode], {
          encoding: 'utf8',
        }),
      );
    const bounded = peakMb('bounded');
    const adaptive = peakMb('adaptive');
    expect(bounded).toBeGreaterThan(20);
    expect(bounded).toBeLessThan(adaptive * 0.75);
  }, 60_000);
});

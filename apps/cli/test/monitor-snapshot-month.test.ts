/**
 * The monitor holds the server to the snapshot of the month it asked for (a reviewer's
 * find): a genuine snapshot of another month passes its signature check, and an older one
 * would make a checkpoint by an expired key wait as PENDING instead of failing. Read with the
 * conformance vectors' snapshot (2026-08), made by an independent implementation.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parsePublisherKeys } from '@quittance/verifier';
import { describe, expect, it } from 'vitest';
import { monthKeyHistory } from '../src/commands/monitor';
import { ServerUnreadable } from '../src/http';

const receipts = resolve(import.meta.dirname, '../../../../shared/conformance/receipts');
const read = (name: string) => JSON.parse(readFileSync(join(receipts, name), 'utf8'));
const publisher = parsePublisherKeys(read('publisher.json'));

describe("the monitor's key snapshot of a month", () => {
  it('is that month’s: the same snapshot asked for as another month is unreadable (exit 2)', async () => {
    const snapshot = read('snapshot.json');
    expect((await monthKeyHistory('2026-08', snapshot, publisher)).authentic.status).toBe(
      'asserted',
    );
    for (const period of ['2026-09', '2026-07']) {
      const asked = monthKeyHistory(period, snapshot, publisher);
      await expect(asked).rejects.toBeInstanceOf(ServerUnreadable);
      await expect(asked).rejects.toThrow(
        `the server answered the key snapshot of 2026-08 for ${period}`,
      );
    }
  });

  it('a forged one is not refused here: its checkpoints fail on it (exit 1)', async () => {
    const forged = read('snapshot-forged.json');
    const history = await monthKeyHistory('2026-09', forged, publisher);
    expect(history.authentic.status).toBe('refuted');
  });
});

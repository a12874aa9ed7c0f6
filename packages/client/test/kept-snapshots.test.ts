import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { QuittanceClient } from '../src';

// A receipt of an ended month made without our code (test/fixtures/external), its snapshot
// served by a fetch of the test's own.
const DIR = resolve(import.meta.dirname, '../../../test/fixtures/external');
const receipt = JSON.parse(readFileSync(join(DIR, 'receipt.json'), 'utf8'));
const snapshot = readFileSync(join(DIR, 'snapshot.json'), 'utf8');
const publisher = JSON.parse(readFileSync(join(DIR, 'publisher.json'), 'utf8'));

describe("an ended month's snapshot, kept", () => {
  it('only once the pinned key vouches for it: a damaged answer is asked again', async () => {
    let fetches = 0;
    const client = new QuittanceClient({
      baseUrl: 'http://quittance.test',
      apiKey: 'qtk_test',
      publisher,
      fetch: async () => {
        fetches++;
        const doc = JSON.parse(snapshot);
        // The first answer is damaged on the way (a proxy's), still JSON.
        if (fetches === 1) doc.issuedAt = '2026-11-30T00:00:00.000Z';
        return new Response(JSON.stringify(doc), {
          headers: { 'content-type': 'application/json' },
        });
      },
    });
    expect((await client.verify(receipt)).claims.snapshot_authentic.status).toBe('refuted');
    expect((await client.verify(receipt)).claims.snapshot_authentic.status).toBe('asserted');
    expect((await client.verify(receipt)).claims.snapshot_authentic.status).toBe('asserted');
    expect(fetches).toBe(2);
  });
});

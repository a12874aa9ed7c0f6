import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { verifyBundle } from '../../src/bundle/verify-bundle';
import { parsePublisherKeys } from '../../src/key-history';

// Whose chain an export is: its manifest's merchant (SPEC §6, §9). The independent maker's
// export (test/fixtures/external-bundles), its first receipt moved to another merchant.
const OUT = resolve(import.meta.dirname, '../../../../test/fixtures/external-bundles/out');
const publisher = parsePublisherKeys(JSON.parse(readFileSync(join(OUT, 'publisher.json'), 'utf8')));

function withFirstReceiptOf(merchantId: string, options: { manifest: boolean }) {
  const files = unzipSync(new Uint8Array(readFileSync(join(OUT, 'export.zip'))));
  if (!options.manifest) {
    delete files['manifest.json'];
    delete files['manifest.jws'];
  }
  const lines = strFromU8(files['receipts.jsonl'] as Uint8Array).split('\n');
  lines[0] = JSON.stringify({ ...JSON.parse(lines[0] as string), merchantId });
  files['receipts.jsonl'] = strToU8(lines.join('\n'));
  return zipSync(files);
}

async function foreignOnes(zip: Uint8Array) {
  const report = await verifyBundle(zip, { publisher, keepReceipts: true });
  return (report.receipts ?? []).filter((r) =>
    r.claims.chain_linked.reason.includes('of merchant'),
  );
}

describe("an export's receipts are its manifest's merchant's", () => {
  it('with the manifest: the one receipt of another merchant, and only it', async () => {
    expect(await foreignOnes(withFirstReceiptOf('xv-other', { manifest: true }))).toHaveLength(1);
  });

  it('without a usable manifest nothing says whose the chain is: no receipt is called foreign', async () => {
    // Taken from the first receipt instead, one tampered first line made every genuine
    // receipt after it another merchant's (a review).
    expect(await foreignOnes(withFirstReceiptOf('xv-other', { manifest: false }))).toHaveLength(0);
  });
});

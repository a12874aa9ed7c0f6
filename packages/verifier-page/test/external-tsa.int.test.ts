/**
 * The page checks a timestamp that an outside TSA signed with Ed25519 (RFC 8419), made by
 * Bouncy Castle with no Quittance code (test/fixtures/external-tsa-ed25519): Chromium's
 * WebCrypto verifies the CMS signature, as Node's does for `quittance verify`.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestBrowser } from '@quittance/test-tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  browserWithPins,
  buildPageToDisk,
  giveEvidence,
  openPage,
  readShownReport,
  repoRoot,
  screenshot,
} from './page-driver';

const external = join(repoRoot, 'test/fixtures/external');
const stamped = join(repoRoot, 'test/fixtures/external-tsa-ed25519');
let browser: TestBrowser;
let url: string;

beforeAll(async () => {
  url = (await buildPageToDisk()).url;
  browser = await browserWithPins(url, {
    publisher: join(external, 'publisher.json'),
    tsa: join(stamped, 'tsa-ca.pem'),
  });
}, 120_000);
afterAll(async () => {
  await browser?.close();
});

describe('a timestamp signed with Ed25519 by an outside TSA', () => {
  it('is asserted, and refuted once its signature changes', async () => {
    const receipt = JSON.parse(await readFile(join(stamped, 'receipt.json'), 'utf8'));
    const token = Buffer.from(receipt.timestamp.token, 'base64');
    token[token.length - 1] = (token[token.length - 1] as number) ^ 1;
    const dir = await mkdtemp(join(tmpdir(), 'quittance-page-tsa-'));
    const tampered = join(dir, 'tampered.json');
    await writeFile(
      tampered,
      JSON.stringify({
        ...receipt,
        timestamp: { ...receipt.timestamp, token: token.toString('base64') },
      }),
    );
    const { page, errors } = await openPage(browser, url);
    try {
      // The root is named as the claims name the TSA: RFC 4514, the last RDN first.
      expect(await page.textContent('#tsa-pinned .pinned-line')).toMatch(
        /^Pinned timestamp authority CN=Outside Ed25519 Root,O=Outside Maker, SHA-256/,
      );
      const snapshot = join(external, 'snapshot.json');
      expect(await giveEvidence(page, [join(stamped, 'receipt.json'), snapshot])).toBe('result');
      const shown = await readShownReport(page);
      await screenshot(page, 'external-ed25519-tsa.png');
      expect(shown.receipts[0]?.claims.timestamp_valid).toBe('asserted');
      expect(shown.receipts[0]?.claims.signature_valid).toBe('asserted');
      expect(await giveEvidence(page, [tampered, snapshot])).toBe('result');
      const refuted = await readShownReport(page);
      expect(refuted.verdict).toBe('FAIL');
      expect(refuted.receipts[0]?.claims.timestamp_valid).toBe('refuted');
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});

/**
 * The SPEC 1.1 conformance vectors (`../shared/conformance/receipts`, never edited here)
 * through the built page in headless Chromium, the way a reader would give them: the
 * publisher key pinned once, then each case's receipt, key snapshot and proof picked. The
 * verdict shown and every listed claim must be the expected ones, and the JSON the page exports
 * must be the report the command line's code makes of the same files.
 */
import { join } from 'node:path';
import type { TestBrowser } from '@quittance/test-tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allCases, verifyAsTheCliDoes } from '../../../packages/verifier/test/conformance-cases';
import {
  browserWithPins,
  buildPageToDisk,
  conformanceDir,
  exportedJson,
  giveEvidence,
  openPage,
  readShownReport,
  screenshot,
} from './page-driver';

const cases = allCases();
let browser: TestBrowser;
let url: string;

beforeAll(async () => {
  url = (await buildPageToDisk()).url;
  browser = await browserWithPins(url, { publisher: join(conformanceDir, 'publisher.json') });
}, 120_000);
afterAll(async () => {
  await browser?.close();
});

describe('the verifier page: SPEC 1.1 conformance vectors', () => {
  it('has the vectors, proofs included', () => {
    expect(cases.length).toBeGreaterThanOrEqual(28);
    expect(cases.filter(([, c]) => c.proof).length).toBeGreaterThanOrEqual(6);
  });

  it.each(cases)('%s', async (name, c) => {
    const { page, errors } = await openPage(browser, url);
    try {
      const files = [c.file ?? name, c.jwks, ...(c.proof ? [c.proof] : [])].map((f) =>
        join(conformanceDir, f),
      );
      expect(await giveEvidence(page, files)).toBe('result');
      const shown = await readShownReport(page);
      expect(shown.receipts).toHaveLength(1);
      const claims = { ...shown.claims, ...shown.receipts[0]?.claims };
      for (const [claim, status] of Object.entries(c.claims))
        expect(claims[claim], `${name}: ${claim}`).toBe(status);
      // FAIL exactly when the command exits 1; PASS only when every claim shown is asserted.
      const statuses = Object.values(claims);
      const expected =
        c.exit === 1 ? 'FAIL' : statuses.every((s) => s === 'asserted') ? 'PASS' : 'NOT PROVEN';
      expect(shown.verdict).toBe(expected);
      expect(shown.receipts[0]?.verdict).toBe(expected);

      const exported = await exportedJson(page);
      expect(exported).toEqual(await verifyAsTheCliDoes(c, name));
      expect(exported.ok).toBe(c.exit === 0);
      if (name === 'tampered-tool.json') await screenshot(page, 'verifier-page-fail.png');
      if (name === 'log-06.json') await screenshot(page, 'verifier-page-not-proven.png');
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});

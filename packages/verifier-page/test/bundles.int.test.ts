/**
 * Bundles in the page: an export and an order evidence zip made by the running service
 * (real PostgreSQL, job runtime and TSA), verified in headless Chromium with the same verdict
 * and the same JSON as `quittance verify BUNDLE.zip --json`; then each with one byte changed in
 * each file in turn (always refuted, never a page error); then a zip bomb and a truncated zip
 * (a clear message, and the page answers throughout).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  startTsaServer,
  type TestBrowser,
  type TsaTestServer,
  until,
} from '@quittance/test-tooling';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, issueBody } from '../../../apps/api/test/harness';
import {
  browserWithPins,
  buildPageToDisk,
  exportedJson,
  exportedText,
  giveEvidence,
  openPage,
  readShownReport,
  repoRoot,
  screenshot,
} from './page-driver';
import { entriesOf, withOneByteChanged, zeroBombZip } from './zip-samples';

const run = promisify(execFile);
const MiB = 1024 * 1024;

let tsa: TsaTestServer;
let h: Harness;
let browser: TestBrowser;
let url: string;
let dir: string;
const files = { exportZip: '', evidenceZip: '', publisher: '', tsaTrust: '' };

/** What `quittance verify BUNDLE.zip --json` prints, as a user runs it. */
async function cliText(zip: string): Promise<string> {
  const args = ['verify', zip, '--publisher', files.publisher, '--tsa-trust', files.tsaTrust];
  try {
    const { stdout } = await run(
      join(repoRoot, 'node_modules/.bin/quittance'),
      [...args, '--json'],
      {
        cwd: repoRoot,
        maxBuffer: 64 * MiB,
      },
    );
    return stdout;
  } catch (error) {
    return (error as { stdout: string }).stdout;
  }
}

const cliJson = async (zip: string): Promise<any> => JSON.parse(await cliText(zip));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'quittance-page-bundles-'));
  // A TSA under an Ed25519 root CA: the chain is checked with the Ed25519 that pkijs lacks
  // (packages/tsp/src/engine.ts), by the service's worker, the command line and the page.
  tsa = await startTsaServer({ rootKey: 'ed25519' });
  h = await createHarness({
    jobs: true,
    env: {
      QUITTANCE_TSA_URL: tsa.url,
      QUITTANCE_TSA_TRUST: tsa.trustPemPath,
      QUITTANCE_SWEEP_INTERVAL_MS: '100',
      QUITTANCE_CHECKPOINT_EVERY: '3',
      QUITTANCE_CHECKPOINT_INTERVAL_S: '1',
    },
  });
  const m = await h.merchant();
  const tools = ['search_catalog', 'add_to_cart', 'update_cart', 'complete_checkout'];
  for (const [i, tool] of tools.entries()) {
    const issued = await h.call('POST', '/api/v1/trust/receipts', {
      key: m.merchantKey,
      body: issueBody({ orderId: 'order-42', tool, bucket: i === 3 ? 'checkout' : 'customer' }),
    });
    expect(issued.status).toBe(201);
  }
  for (let i = 0; i < 2; i++)
    await h.call('POST', '/api/v1/trust/receipts', {
      key: m.merchantKey,
      body: issueBody({ orderId: 'order-43' }),
    });
  // Every receipt timestamped, and a timestamped checkpoint over the whole log.
  await until(async () => {
    const list = await h.call('GET', '/api/v1/trust/receipts?limit=500', { key: m.merchantKey });
    const checkpoints = await h.call('GET', '/api/v1/trust/checkpoints', { key: m.merchantKey });
    return (
      list.body.receipts.every((r: any) => r.timestamp) &&
      checkpoints.body.checkpoints.some((c: any) => c.seq === 6 && c.timestamp)
    );
  });

  const created = await h.call('POST', '/api/v1/trust/exports', {
    key: m.auditorKey,
    body: { jurisdiction: 'EU', includeBodies: true },
  });
  expect(created.status).toBe(202);
  await until(async () => {
    const r = await h.call('GET', `/api/v1/trust/exports/${created.body.id}`, {
      key: m.auditorKey,
    });
    if (r.body.status === 'failed') throw new Error(r.body.error);
    return r.body.status === 'done';
  });
  const download = async (path: string, target: string) => {
    const res = await h.app.request(path, { headers: { authorization: `Bearer ${m.auditorKey}` } });
    expect(res.status).toBe(200);
    await writeFile(target, Buffer.from(await res.arrayBuffer()));
    return target;
  };
  files.exportZip = await download(
    `/api/v1/trust/exports/${created.body.id}/download`,
    join(dir, 'export.zip'),
  );
  files.evidenceZip = await download(
    '/api/v1/trust/receipts/by-order/order-42/evidence?includeBodies=true',
    join(dir, 'order-42-evidence.zip'),
  );
  files.publisher = join(dir, 'publisher.json');
  await writeFile(
    files.publisher,
    JSON.stringify((await h.call('GET', '/.well-known/quittance-publisher.json')).body),
  );
  files.tsaTrust = tsa.trustPemPath;

  url = (await buildPageToDisk()).url;
  browser = await browserWithPins(url, { publisher: files.publisher, tsa: files.tsaTrust });
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await h?.close();
  await tsa?.close();
});

describe('bundles made by the service', () => {
  it('verifies the export with the command line’s verdict and JSON', async () => {
    const { page, errors } = await openPage(browser, url);
    try {
      expect(await giveEvidence(page, [files.exportZip])).toBe('result');
      const shown = await readShownReport(page);
      const cliOutput = await cliText(files.exportZip);
      const cli = JSON.parse(cliOutput);
      expect(cli.ok).toBe(true);
      // The page streams the report as the command does: the very same bytes.
      expect(await exportedText(page)).toBe(cliOutput);
      for (const [name, claim] of Object.entries(cli.claims as Record<string, any>))
        expect(shown.claims[name], name).toBe(claim.status);
      expect(shown.receipts).toHaveLength(6);
      // Each receipt is a leaf of the tree a verified checkpoint signs, recomputed from
      // log.json and chain.jsonl (the export is made after the checkpoint covering all 6).
      for (const receipt of shown.receipts)
        expect(new Set(Object.values(receipt.claims))).toEqual(new Set(['asserted']));
      expect(shown.verdict).toBe('PASS');
      await screenshot(page, 'verifier-page-export.png');
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('passes the order evidence and shows the order as a timeline', async () => {
    const { page, errors } = await openPage(browser, url);
    try {
      expect(await giveEvidence(page, [files.evidenceZip])).toBe('result');
      const shown = await readShownReport(page);
      const cli = await cliJson(files.evidenceZip);
      expect(await exportedJson(page)).toEqual(cli);
      expect(cli.bundle).toEqual({ kind: 'order-evidence', orderId: 'order-42' });
      expect(shown.verdict).toBe(cli.ok ? 'PASS' : 'FAIL');
      expect(shown.verdict).toBe('PASS');
      const timeline = await page.$$eval('table.timeline tbody tr', (rows) =>
        rows.map((row) => [...row.querySelectorAll('td')].map((td) => td.textContent)),
      );
      expect(timeline.map((row) => [row[2], row[4]])).toEqual([
        ['search_catalog', 'PASS'],
        ['add_to_cart', 'PASS'],
        ['update_cart', 'PASS'],
        ['complete_checkout', 'PASS'],
      ]);
      expect(await page.textContent('#verdict')).toMatch(
        /Order evidence for order order-42 with 4 receipts/,
      );
      await screenshot(page, 'verifier-page-pass.png');
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it.each([
    ['export', () => files.exportZip],
    ['order evidence', () => files.evidenceZip],
  ])('refutes the %s with one byte changed in each file in turn', async (_, zipOf) => {
    const zip = new Uint8Array(await readFile(zipOf()));
    const names = entriesOf(zip).map(([name]) => name);
    expect(names.length).toBeGreaterThanOrEqual(7);
    const { page, errors } = await openPage(browser, url);
    try {
      for (const name of names) {
        const path = join(dir, `changed-${name.replaceAll('/', '_')}.zip`);
        await writeFile(path, withOneByteChanged(zip, name));
        expect(await giveEvidence(page, [path]), name).toBe('result');
        const shown = await readShownReport(page);
        expect(shown.verdict, name).toBe('FAIL');
        const exported = await exportedJson(page);
        expect(exported.ok, name).toBe(false);
      }
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});

describe('hostile zips', () => {
  /** The page answers within half a second while its worker is busy or done. */
  const expectResponsive = async (page: Page) => {
    const started = Date.now();
    expect(await page.evaluate(() => document.title)).toBe('Quittance verifier');
    expect(Date.now() - started).toBeLessThan(500);
  };

  it.each([
    [
      'declares 2 GiB',
      2,
      2 * 1024 * MiB,
      /declares 2(\.0)? GiB; the limit per entry is 1(\.0)? GiB/,
    ],
    [
      'claims 1 KiB and inflates 2 GiB',
      2048,
      1024,
      /receipts\.jsonl cannot be inflated: too many bytes in the stream/,
    ],
  ])('a zip bomb that %s is refused with a clear message', async (_, mib, declared, message) => {
    const path = join(dir, `bomb-${declared}.zip`);
    await writeFile(path, zeroBombZip('receipts.jsonl', mib as number, declared as number));
    const { page, errors } = await openPage(browser, url);
    try {
      const ended = giveEvidence(page, [path]);
      await expectResponsive(page);
      expect(await ended).toBe('error');
      const shown = await page.textContent('#evidence-error');
      expect(shown).toMatch(/^This zip cannot be verified: /);
      expect(shown).toMatch(message as RegExp);
      await expectResponsive(page);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('a truncated zip is refused with a clear message, and the next one verifies', async () => {
    const whole = await readFile(files.exportZip);
    const path = join(dir, 'truncated.zip');
    await writeFile(path, whole.subarray(0, Math.floor(whole.length * 0.6)));
    const { page, errors } = await openPage(browser, url);
    try {
      expect(await giveEvidence(page, [path])).toBe('error');
      expect(await page.textContent('#evidence-error')).toMatch(
        /^This zip cannot be verified: truncated\.zip is not a readable zip: .*truncated/,
      );
      await expectResponsive(page);
      expect(await giveEvidence(page, [files.evidenceZip])).toBe('result');
      expect((await readShownReport(page)).verdict).toBe('PASS');
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});

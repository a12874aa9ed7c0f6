/**
 * Drives the built verifier page in the real headless Chromium, as a reader would: pins the
 * publisher key, gives the evidence files, waits for the verdict and reads what is shown.
 */
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launchBrowser, type TestBrowser } from '@quittance/test-tooling';
import type { Locator, Page, Request } from 'playwright-core';
import { buildVerifierPage } from '../src/build';

export const repoRoot = resolve(import.meta.dirname, '../../..');
/** Screenshots and other things to look at after a run (gitignored). */
export const testOutput = join(repoRoot, 'test-output');
export const conformanceDir = join(repoRoot, '..', 'shared', 'conformance', 'receipts');

export type Status = 'asserted' | 'refuted' | 'unknown';

/** Builds the page from the sources into a temporary file and returns its file:// URL. */
export async function buildPageToDisk(): Promise<{ url: string; path: string; bytes: number }> {
  const page = await buildVerifierPage();
  const dir = await mkdtemp(join(tmpdir(), 'quittance-page-'));
  const path = join(dir, 'verify.html');
  await writeFile(path, page.html);
  return { url: pathToFileURL(path).href, path, bytes: page.bytes };
}

export interface OpenedPage {
  page: Page;
  /** Requests made after the page finished loading. */
  requestsAfterLoad: Request[];
  /** Uncaught errors and console errors of the page and its worker. */
  errors: string[];
  loadMs: number;
}

/** Opens the page from disk; resolves once its script has wired every control. */
export async function openPage(browser: TestBrowser, url: string): Promise<OpenedPage> {
  const page = await browser.context.newPage();
  const errors: string[] = [];
  const requestsAfterLoad: Request[] = [];
  let loaded = false;
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('request', (request) => {
    if (loaded) requestsAfterLoad.push(request);
  });
  const started = performance.now();
  await page.goto(url);
  await page.waitForSelector('html[data-ready="true"]');
  const loadMs = performance.now() - started;
  loaded = true;
  return { page, requestsAfterLoad, errors, loadMs };
}

/** Pins a publisher key or TSA roots through the page's file picker and Pin button. */
export async function pinTrust(page: Page, name: 'publisher' | 'tsa', file: string): Promise<void> {
  await page.setInputFiles(`#${name}-file`, file);
  await page.waitForFunction(
    (id) => (document.getElementById(id) as HTMLTextAreaElement).value !== '',
    `${name}-text`,
  );
  await page.click(`#${name}-pin-button`);
  await page.waitForSelector(`#${name}-pinned .pinned-line`);
}

/**
 * A browser whose profile has these roots of trust pinned once: every later page of it finds
 * them in local storage.
 */
export async function browserWithPins(
  url: string,
  pins: { publisher: string; tsa?: string },
): Promise<TestBrowser> {
  const browser = await launchBrowser();
  const { page } = await openPage(browser, url);
  await pinTrust(page, 'publisher', pins.publisher);
  if (pins.tsa) await pinTrust(page, 'tsa', pins.tsa);
  await page.close();
  return browser;
}

/** Gives evidence files and waits until the run they start has ended. */
export type Outcome = 'result' | 'error' | 'cancelled';

export async function giveEvidence(page: Page, files: string[]): Promise<Outcome> {
  const before = await runsEnded(page);
  await page.setInputFiles('#evidence-files', files);
  return waitForRun(page, before);
}

export const runsEnded = (page: Page) =>
  page.evaluate(() => Number(document.body.dataset.runs ?? 0));

export async function waitForRun(page: Page, before: number, timeout = 120_000): Promise<Outcome> {
  await page.waitForFunction((n) => Number(document.body.dataset.runs ?? 0) > n, before, {
    timeout,
  });
  return page.evaluate(() => document.body.dataset.outcome as Outcome);
}

export interface ShownReport {
  verdict: string;
  /** Bundle-level claims, by name: the status shown. */
  claims: Record<string, Status>;
  receipts: { id: string; verdict: string; claims: Record<string, Status> }[];
}

/** What the report shows: the verdict word and each claim's displayed result. */
export async function readShownReport(page: Page): Promise<ShownReport> {
  return page.evaluate(() => {
    const words: Record<string, Status> = {
      Passed: 'asserted',
      Failed: 'refuted',
      'Not proven': 'unknown',
    };
    const claimsIn = (table: Element | null) => {
      const claims: Record<string, Status> = {};
      for (const row of table?.querySelectorAll('tbody tr') ?? []) {
        const name = row.querySelector('th code')?.textContent ?? '';
        const word = row.querySelector('.status-word')?.textContent ?? '';
        const status = words[word];
        // The plain word and the SPEC's term must say the same thing.
        if (!status || row.querySelector('.status-term')?.textContent !== `(${status})`)
          throw new Error(`claim ${name} shows ${row.textContent}`);
        claims[name] = status;
      }
      return claims;
    };
    const bundleTable = [...document.querySelectorAll('.report-part')]
      .find((part) => part.querySelector('h3')?.textContent?.startsWith('Checks of the bundle'))
      ?.querySelector('table.claims');
    return {
      verdict: document.getElementById('verdict-word')?.textContent ?? '',
      claims: claimsIn(bundleTable ?? null),
      receipts: [...document.querySelectorAll('details.receipt')].map((details) => ({
        id: details.querySelector('summary code')?.textContent ?? '',
        verdict: details.querySelector('summary .badge')?.textContent ?? '',
        claims: claimsIn(details.querySelector('table.claims')),
      })),
    };
  });
}

/** Clicks “Download the report (JSON)” and reads the file the browser saves. */
export async function exportedText(page: Page): Promise<string> {
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('#export-button'),
  ]);
  return readFile(await download.path(), 'utf8');
}

/** The downloaded report, parsed. */
export async function exportedJson(page: Page): Promise<any> {
  return JSON.parse(await exportedText(page));
}

/** A screenshot into test-output/: the whole page, or one part of it. */
export async function screenshot(page: Page, name: string, part?: Locator): Promise<string> {
  await mkdir(testOutput, { recursive: true });
  const path = join(testOutput, name);
  if (part) await part.screenshot({ path });
  else await page.screenshot({ path, fullPage: true });
  return path;
}

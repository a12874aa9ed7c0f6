/**
 * The page itself, in headless Chromium from disk: it loads fast, makes no request after load
 * (and its Content-Security-Policy refuses one), reads every form of receipts file the command
 * line reads, can be cancelled, is operable from the keyboard with labelled controls and
 * readable contrast, and prints the report without the controls.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestBrowser } from '@quittance/test-tooling';
import { loadKeyHistory, parsePublisherKeys, toReport, verifyReceipt } from '@quittance/verifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  browserWithPins,
  buildPageToDisk,
  conformanceDir,
  exportedJson,
  giveEvidence,
  openPage,
  readShownReport,
  runsEnded,
  waitForRun,
} from './page-driver';

let browser: TestBrowser;
let url: string;
let bytes: number;
let dir: string;
const file = (name: string) => join(conformanceDir, name);
const json = (name: string) => JSON.parse(readFileSync(file(name), 'utf8'));

beforeAll(async () => {
  ({ url, bytes } = await buildPageToDisk());
  dir = await mkdtemp(join(tmpdir(), 'quittance-page-test-'));
  browser = await browserWithPins(url, { publisher: file('publisher.json') });
}, 120_000);
afterAll(async () => {
  await browser?.close();
});

/** What the command line's code reports for these receipts (no proof, no TSA). */
async function libraryReport(receipts: unknown[]) {
  const history = await loadKeyHistory(json('snapshot.json'), {
    publisher: parsePublisherKeys(json('publisher.json')),
  });
  const reports = [];
  for (const receipt of receipts) reports.push(await verifyReceipt(receipt, history));
  return toReport({}, reports);
}

describe('loading', () => {
  it('is one file under 1 MiB that loads from disk and asks the network nothing', async () => {
    // Its load time is a figure of bench:verifier-page, not a timed assertion: under a busy
    // host's load it once took longer than a second here.
    expect(bytes).toBeLessThan(1024 * 1024);
    const opened = await openPage(browser, url);
    try {
      // A whole verification, worker included, then a look at what was requested.
      expect(await giveEvidence(opened.page, [file('good.json'), file('snapshot.json')])).toBe(
        'result',
      );
      const network = opened.requestsAfterLoad
        .map((r) => r.url())
        .filter((u) => !/^(blob|data):/.test(u));
      expect(network).toEqual([]);
      expect(opened.errors).toEqual([]);
    } finally {
      await opened.page.close();
    }
  });

  it('refuses a connection by its Content-Security-Policy (connect-src none)', async () => {
    const { page } = await openPage(browser, url);
    try {
      const outcome = await page.evaluate(async () => {
        const violations: string[] = [];
        document.addEventListener('securitypolicyviolation', (e) =>
          violations.push(e.effectiveDirective),
        );
        let fetched = 'fetched';
        try {
          await fetch('http://127.0.0.1:9/steal');
        } catch {
          fetched = 'refused';
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
        return { fetched, violations };
      });
      expect(outcome).toEqual({ fetched: 'refused', violations: ['connect-src'] });
      const csp = await page.getAttribute('meta[http-equiv="Content-Security-Policy"]', 'content');
      expect(csp).toContain("connect-src 'none'");
      expect(csp).toContain("default-src 'none'");
      expect(csp).not.toContain('unsafe-inline');
    } finally {
      await page.close();
    }
  });
});

describe('receipt files', () => {
  const good = json('good.json');
  const tampered = json('tampered-tool.json');
  const [log06, log11] = [json('log-06.json'), json('log-11.json')];

  it.each([
    ['an array', 'array.json', JSON.stringify([log06, tampered, log11])],
    [
      'JSON Lines',
      'lines.jsonl',
      [log06, tampered, log11].map((r) => `${JSON.stringify(r)}\n`).join(''),
    ],
    [
      'an API answer',
      'by-order.json',
      JSON.stringify({ orderId: 'ord_7', receipts: [log06, tampered, log11] }),
    ],
  ])(
    'reads %s, shows failures first, exports what the command line reports',
    async (_, name, text) => {
      const path = join(dir, name);
      await writeFile(path, text);
      const { page, errors } = await openPage(browser, url);
      try {
        expect(await giveEvidence(page, [path, file('snapshot.json')])).toBe('result');
        const shown = await readShownReport(page);
        expect(shown.verdict).toBe('FAIL');
        expect(shown.receipts.map((r) => [r.id, r.verdict])).toEqual([
          [tampered.id, 'FAIL'],
          [log06.id, 'NOT PROVEN'],
          [log11.id, 'NOT PROVEN'],
        ]);
        // The timeline of the order: the receipts in time order, each with its verdict.
        const timeline = await page.$$eval('table.timeline tbody tr', (rows) =>
          rows.map((row) => [...row.querySelectorAll('td')].map((td) => td.textContent)),
        );
        expect(timeline).toEqual([
          [
            tampered.createdAt.replace('T', ' '),
            'agt_conf',
            tampered.tool,
            'checkout',
            'FAIL',
            tampered.id,
          ],
          [
            log06.createdAt.replace('T', ' '),
            'agt_conf',
            log06.tool,
            log06.bucket,
            'NOT PROVEN',
            log06.id,
          ],
          [
            log11.createdAt.replace('T', ' '),
            'agt_conf',
            log11.tool,
            log11.bucket,
            'NOT PROVEN',
            log11.id,
          ],
        ]);
        expect(await exportedJson(page)).toEqual(await libraryReport([log06, tampered, log11]));
        expect(errors).toEqual([]);
      } finally {
        await page.close();
      }
    },
  );

  it('takes files dropped anywhere on the page', async () => {
    const { page } = await openPage(browser, url);
    try {
      const before = await runsEnded(page);
      await page.evaluate(
        ([receipt, snapshot]) => {
          const data = new DataTransfer();
          data.items.add(new File([receipt as string], 'good.json'));
          data.items.add(new File([snapshot as string], 'snapshot.json'));
          document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true }));
        },
        [readFileSync(file('good.json'), 'utf8'), readFileSync(file('snapshot.json'), 'utf8')],
      );
      expect(await waitForRun(page, before)).toBe('result');
      expect((await readShownReport(page)).verdict).toBe('NOT PROVEN');
    } finally {
      await page.close();
    }
  });

  it('says what is missing or wrong, in words', async () => {
    const { page } = await openPage(browser, url);
    try {
      // Receipts alone: nothing runs; the page asks for the snapshot.
      await page.setInputFiles('#evidence-files', [file('good.json')]);
      await page.waitForFunction(() =>
        /key snapshot/.test(document.getElementById('evidence-error')?.textContent ?? ''),
      );
      const notJson = join(dir, 'broken.json');
      await writeFile(notJson, '{"id": "trcpt_x",\n nope');
      expect(await giveEvidence(page, [notJson, file('snapshot.json')])).toBe('error');
      expect(await page.textContent('#evidence-error')).toMatch(
        /broken\.json is neither JSON nor JSON Lines: line 1 is not JSON/,
      );
    } finally {
      await page.close();
    }
  });

  it('verifies in a worker with a progress bar, and cancels at once', async () => {
    const path = join(dir, 'many.jsonl');
    await writeFile(path, `${JSON.stringify(good)}\n`.repeat(20_000));
    const { page, errors } = await openPage(browser, url);
    try {
      const before = await runsEnded(page);
      await page.setInputFiles('#evidence-files', [path, file('snapshot.json')]);
      await page.waitForFunction(() => {
        const bar = document.getElementById('progress') as HTMLProgressElement;
        return bar.value > 0 && bar.max === 20_000;
      });
      // The page thread stays free while the worker verifies.
      const started = Date.now();
      expect(await page.evaluate(() => 6 * 7)).toBe(42);
      expect(Date.now() - started).toBeLessThan(500);
      await page.click('#cancel-button');
      expect(await waitForRun(page, before)).toBe('cancelled');
      expect(await page.isHidden('#progress-box')).toBe(true);
      expect(await page.isHidden('#report')).toBe(true);
      expect(await page.textContent('#status')).toMatch(/Cancelled/);
      // And the next run works.
      expect(await giveEvidence(page, [file('good.json'), file('snapshot.json')])).toBe('result');
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});

describe('accessible and plain', () => {
  it('labels every control and is operable from the keyboard alone', async () => {
    const { page } = await openPage(browser, url);
    try {
      const unlabelled = await page.$$eval('input, textarea, button, select', (controls) =>
        controls
          .filter((c) => {
            const labelled =
              (c as HTMLInputElement).labels?.length ||
              c.getAttribute('aria-label') ||
              (c.tagName === 'BUTTON' && c.textContent?.trim());
            return !labelled;
          })
          .map((c) => c.outerHTML),
      );
      expect(unlabelled).toEqual([]);

      // Tab to the first control of the evidence, give files, and let Enter do the rest.
      const focusable: string[] = [];
      for (let i = 0; i < 30; i++) {
        await page.keyboard.press('Tab');
        focusable.push(await page.evaluate(() => document.activeElement?.id ?? ''));
      }
      for (const id of ['tsa-text', 'tsa-pin-button', 'evidence-files', 'clear-button'])
        expect(focusable).toContain(id);
      await page.focus('#evidence-files');
      const before = await runsEnded(page);
      await page.setInputFiles('#evidence-files', [file('wrong-key.json'), file('snapshot.json')]);
      expect(await waitForRun(page, before)).toBe('result');
      // The verdict takes the focus; the next Tab reaches the report's actions.
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('verdict-word');
      await page.keyboard.press('Tab');
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('export-button');
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.keyboard.press('Enter'),
      ]);
      expect(download.suggestedFilename()).toBe('quittance-report.json');
      // A failing receipt is unfolded; Enter folds it.
      await page.focus('details.receipt summary');
      await page.keyboard.press('Enter');
      expect(await page.$eval('details.receipt', (d) => (d as HTMLDetailsElement).open)).toBe(
        false,
      );
    } finally {
      await page.close();
    }
  });

  it('keeps text contrast at WCAG AA (4.5:1) for verdicts and results', async () => {
    const { page } = await openPage(browser, url);
    try {
      await giveEvidence(page, [file('before-nbf.json'), file('snapshot.json')]);
      const ratios = await page.evaluate(() => {
        const rgb = (color: string) => (color.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map(Number);
        const luminance = (color: string) => {
          const [r, g, b] = rgb(color).map((v) => {
            const c = v / 255;
            return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
          }) as [number, number, number];
          return 0.2126 * r + 0.7152 * g + 0.0722 * b;
        };
        const background = (el: Element | null): string => {
          for (let e = el; e; e = e.parentElement) {
            const bg = getComputedStyle(e).backgroundColor;
            if (bg !== 'rgba(0, 0, 0, 0)' && bg !== 'transparent') return bg;
          }
          return 'rgb(255, 255, 255)';
        };
        const ratio = (el: Element) => {
          const a = luminance(getComputedStyle(el).color);
          const b = luminance(background(el));
          return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        };
        // Every verdict colour, as the page would show it.
        for (const kind of ['pass', 'fail', 'unproven']) {
          const probe = document.createElement('div');
          probe.className = `verdict ${kind}`;
          probe.innerHTML = '<p class="verdict-hint">probe</p><span class="badge">probe</span>';
          document.body.append(probe);
        }
        const selectors = [
          '.verdict-hint',
          '.verdict-summary',
          '.status-word',
          '.status-term',
          '.reason',
          '.badge',
          'button',
          '.hint',
        ];
        return selectors.flatMap((s) =>
          [...document.querySelectorAll(s)].map((el) => [s, Math.round(ratio(el) * 10) / 10]),
        );
      });
      expect(ratios.length).toBeGreaterThan(10);
      for (const [selector, ratio] of ratios)
        expect(ratio, String(selector)).toBeGreaterThanOrEqual(4.5);
    } finally {
      await page.close();
    }
  });

  it('prints the report without the controls', async () => {
    const { page } = await openPage(browser, url);
    try {
      await giveEvidence(page, [file('good.json'), file('snapshot.json')]);
      await page.emulateMedia({ media: 'print' });
      expect(await page.isHidden('#trust')).toBe(true);
      expect(await page.isHidden('#evidence')).toBe(true);
      expect(await page.isHidden('#export-button')).toBe(true);
      expect(await page.isVisible('#verdict-word')).toBe(true);
      // Printing unfolds every receipt, and folds them back after.
      await page.evaluate(() => window.dispatchEvent(new Event('beforeprint')));
      expect(
        await page.$$eval('details', (all) => all.every((d) => (d as HTMLDetailsElement).open)),
      ).toBe(true);
      await page.evaluate(() => window.dispatchEvent(new Event('afterprint')));
      expect(
        await page.$$eval('details.receipt', (all) =>
          all.some((d) => !(d as HTMLDetailsElement).open),
        ),
      ).toBe(true);
    } finally {
      await page.close();
    }
  });
});

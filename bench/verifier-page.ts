/**
 * The verifier page against the command line on the same bundle, in the same run: the page's
 * size, its load time from disk in headless Chromium, and the time to verify an export of
 * N receipts (default 10,000) in the page (one Web Worker) and with `quittance verify` (worker
 * threads, one per core), then the JSON report's download and the peak memory of the page's
 * renderer and of the browser process. Asserts nothing.
 *   npm run bench:verifier-page                  (BENCH_RECEIPTS=10000)
 *   BENCH_ZIP=ZIP BENCH_PUBLISHER_FILE=JSON      uses that bundle (no database)
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { launchBrowser } from '@quittance/test-tooling';
import { buildVerifierPage } from '../packages/verifier-page/src/build';
import { median } from './median';

const run = promisify(execFile);

/** Peak resident memory (VmHWM, MB) of Chromium's largest renderer and of its browser process. */
async function chromiumPeakRss(): Promise<{ renderer: number; browser: number }> {
  const peaks = { renderer: 0, browser: 0 };
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      // Chromium rewrites its processes' command lines into one space-separated string.
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      if (!/^\S*chrom/.test(cmdline)) continue;
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const mb = Math.round(Number(status.match(/VmHWM:\s+(\d+) kB/)?.[1] ?? 0) / 1024);
      const type = / --type=(\S+)/.exec(cmdline)?.[1];
      if (type === 'renderer') peaks.renderer = Math.max(peaks.renderer, mb);
      if (type === undefined) peaks.browser = Math.max(peaks.browser, mb);
    } catch {
      // gone meanwhile
    }
  }
  return peaks;
}
const root = resolve(import.meta.dirname, '..');
const N = Number(process.env.BENCH_RECEIPTS ?? 10_000);
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const work = await mkdtemp(join(tmpdir(), 'quittance-bench-page-'));
try {
  let zip = process.env.BENCH_ZIP;
  let publisher = process.env.BENCH_PUBLISHER_FILE;
  if (!zip || !publisher) {
    // The export benchmark makes the bundle the service would (and verifies it once in-process).
    const made = await run(process.execPath, ['--import', 'tsx', 'bench/export-verify.ts'], {
      cwd: root,
      env: { ...process.env, BENCH_RECEIPTS: String(N), BENCH_KEEP: work },
      maxBuffer: 1 << 24,
    });
    process.stdout.write(`${made.stdout.trimEnd().replace(/^/gm, '  (bench:export) ')}\n`);
    zip = join(work, 'bundle.zip');
    publisher = join(work, 'publisher.json');
  }
  const zipBytes = (await stat(zip)).size;

  const built = await buildVerifierPage();
  const pagePath = join(work, 'verify.html');
  await writeFile(pagePath, built.html);
  const url = pathToFileURL(pagePath).href;
  console.log(
    `page: ${(built.bytes / 1024).toFixed(0)} KiB in one file (script ${(built.scriptBytes / 1024).toFixed(0)} KiB)`,
  );

  const browser = await launchBrowser();
  try {
    const loads: number[] = [];
    for (let i = 0; i < 5; i++) {
      const page = await browser.context.newPage();
      const started = performance.now();
      await page.goto(url);
      await page.waitForSelector('html[data-ready="true"]');
      loads.push(performance.now() - started);
      await page.close();
    }
    console.log(
      `load from disk (navigation to a wired page), median of 5: ${Math.round(median(loads))} ms`,
    );

    const page = await browser.context.newPage();
    await page.goto(url);
    await page.waitForSelector('html[data-ready="true"]');
    await page.setInputFiles('#publisher-file', publisher);
    await page.waitForFunction(
      () => (document.getElementById('publisher-text') as HTMLTextAreaElement).value !== '',
    );
    await page.click('#publisher-pin-button');
    await page.waitForSelector('#publisher-pinned .pinned-line');
    const started = performance.now();
    await page.setInputFiles('#evidence-files', zip);
    await page.waitForFunction(() => document.body.dataset.runs === '1', undefined, {
      timeout: 600_000,
      polling: 50,
    });
    const pageMs = performance.now() - started;
    const verdict = await page.evaluate(
      () =>
        document.getElementById('verdict-word')?.textContent ??
        document.getElementById('evidence-error')?.textContent,
    );
    console.log(
      `page:  ${seconds(pageMs)} for ${N.toLocaleString('en-US')} receipts (${(zipBytes / 1e6).toFixed(1)} MB zip), ${Math.round(N / (pageMs / 1000)).toLocaleString('en-US')} receipts/s, verdict ${verdict}`,
    );
    // The JSON report, as a user downloads it after the verdict.
    const downloadStarted = performance.now();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('#export-button'),
    ]);
    const saved = await download.path();
    console.log(
      `page:  the JSON report (${((await stat(saved)).size / 1e6).toFixed(1)} MB) saved ${seconds(performance.now() - downloadStarted)} after the click`,
    );
    const peaks = await chromiumPeakRss();
    console.log(
      `page:  peak RSS of the page's renderer (its worker included) ${peaks.renderer} MB; of the browser process ${peaks.browser} MB`,
    );
  } finally {
    await browser.close();
  }

  const cliStarted = performance.now();
  const cli = await run(
    join(root, 'node_modules/.bin/quittance'),
    ['verify', zip, '--publisher', publisher],
    { cwd: root, maxBuffer: 1 << 26 },
  ).catch((error: { stdout: string }) => error);
  const cliMs = performance.now() - cliStarted;
  const cliVerdict = /^(PASS|FAIL)/m.exec(cli.stdout)?.[1] ?? 'none';
  console.log(
    `cli:   ${seconds(cliMs)} for the same bundle (process start included, ${availableParallelism()} cores), ${Math.round(N / (cliMs / 1000)).toLocaleString('en-US')} receipts/s, verdict ${cliVerdict}`,
  );
} finally {
  await rm(work, { recursive: true, force: true });
}

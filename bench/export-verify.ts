/**
 * Export then verify N receipts (default 100,000): prints receipts/s of both and the peak RSS
 * of each phase (each runs in its own process), and the raw Ed25519 verify rate of one core
 * measured in the same run. Targets (issue 5): export ≥ 10,000 receipts/s with peak RSS
 * ≤ 300 MB; verification ≥ 0.8 × raw Ed25519 verify (issue 12: with log.json too).
 * Asserts nothing.
 *
 * Wall-clock rates on a shared machine swing with its load, so the verify phase also reports
 * its CPU time (all threads): receipts per CPU second against raw verifies per CPU second is
 * the load-independent figure.
 *   npm run bench:export      (BENCH_RECEIPTS=100000)
 *   BENCH_KEEP=DIR            keeps the zip and the publisher key in DIR
 *   BENCH_ZIP=ZIP BENCH_PUBLISHER_FILE=JSON   verifies that zip only (no database)
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createServices, loadConfig } from '@quittance/api';
import { createTestDatabase } from '@quittance/test-tooling';
import { parsePublisherKeys, verifyBundle } from '@quittance/verifier';

const run = promisify(execFile);
const N = Number(process.env.BENCH_RECEIPTS ?? 100_000);
const [phase, databaseUrl, dataDir] = process.argv.slice(2);
const self = join(import.meta.dirname, 'export-verify.ts');

const configFor = (url: string, dir: string) =>
  loadConfig({
    DATABASE_URL: url,
    QUITTANCE_DATA_DIR: dir,
    QUITTANCE_ADMIN_TOKEN: 'bench-admin-token-0123456789abcdef',
    LOG_LEVEL: 'warn',
  });
const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

if (phase === 'export') {
  const services = await createServices(configFor(databaseUrl as string, dataDir as string));
  const auditor = {
    merchantId: 'bench',
    role: 'auditor',
    agentId: null,
    keyPrefix: 'bench',
  } as const;
  const created = await services.exports.create(auditor, { jurisdiction: 'EU' });
  const started = performance.now();
  await services.exports.build(created.id);
  const seconds = (performance.now() - started) / 1000;
  // Out of the bundle store (the data folder here), as a download would read it.
  const download = await services.exports.download(auditor, created.id);
  if (download.url !== undefined) throw new Error('the bench reads bundles from the local store');
  const path = join(dataDir as string, 'bench-bundle.zip');
  await pipeline(download.stream, createWriteStream(path));
  const publisher = await services.publisher.publicJwk();
  await services.close();
  console.log(
    JSON.stringify({
      seconds,
      path,
      bytes: (await stat(path)).size,
      peakRssMb: peakRssMb(),
      publisher: { keys: [publisher] },
    }),
  );
} else if (phase === 'verify') {
  const publisher = parsePublisherKeys(JSON.parse(process.env.BENCH_PUBLISHER as string));
  const started = performance.now();
  const cpu = process.cpuUsage();
  const result = await verifyBundle(databaseUrl as string, { publisher });
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  console.log(
    JSON.stringify({
      seconds,
      cpuSeconds: (used.user + used.system) / 1e6,
      ok: result.ok,
      receipts: result.receiptCount,
      peakRssMb: peakRssMb(),
      claims: result.counts,
    }),
  );
} else if (process.env.BENCH_ZIP) {
  const publisher = JSON.parse(await readFile(process.env.BENCH_PUBLISHER_FILE as string, 'utf8'));
  await verifyAndCompare(process.env.BENCH_ZIP, publisher);
} else {
  const database = await createTestDatabase();
  const dir = await mkdtemp(join(tmpdir(), 'quittance-bench-export-'));
  try {
    const services = await createServices(configFor(database.url, dir));
    await services.keyRing.createMerchant({ merchantId: 'bench', jurisdiction: 'EU' });
    const generated = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < N) {
          const i = next++;
          await services.issuer.issue('bench', {
            callId: `c-${i}`,
            agentId: `agent-${i % 16}`,
            bucket: 'checkout',
            tool: 'complete_checkout',
            orderId: `order-${Math.floor(i / 5)}`,
            inputHash: 'a'.repeat(64),
            outputHash: 'b'.repeat(64),
          });
        }
      }),
    );
    const generation = (performance.now() - generated) / 1000;
    await services.close();
    console.log(
      `node ${process.version}; ${N} receipts issued in-process in ${generation.toFixed(1)} s (${Math.round(N / generation)}/s, set-up)`,
    );
    const exported = JSON.parse(
      (
        await run(
          process.execPath,
          [
            ...(process.env.BENCH_EXPORT_FLAGS ? process.env.BENCH_EXPORT_FLAGS.split(' ') : []),
            '--import',
            'tsx',
            self,
            'export',
            database.url,
            dir,
          ],
          { maxBuffer: 1 << 24 },
        )
      ).stdout,
    );
    console.log(
      `export:  ${Math.round(N / exported.seconds)
        .toLocaleString('en-US')
        .padStart(
          7,
        )} receipts/s  (${exported.seconds.toFixed(1)} s, ${(exported.bytes / 1e6).toFixed(1)} MB zip, peak RSS ${exported.peakRssMb} MB)`,
    );
    if (process.env.BENCH_KEEP) {
      await mkdir(process.env.BENCH_KEEP, { recursive: true });
      await copyFile(exported.path, join(process.env.BENCH_KEEP, 'bundle.zip'));
      await writeFile(
        join(process.env.BENCH_KEEP, 'publisher.json'),
        JSON.stringify(exported.publisher),
      );
    }
    await verifyAndCompare(exported.path, exported.publisher);
  } finally {
    await database.drop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The verify phase in its own process, then the raw Ed25519 rate of one core. */
async function verifyAndCompare(path: string, publisher: unknown) {
  // BENCH_PROFILE=DIR writes a CPU profile of the verify phase there.
  const profile = process.env.BENCH_PROFILE
    ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE]
    : [];
  const verified = JSON.parse(
    (
      await run(process.execPath, [...profile, '--import', 'tsx', self, 'verify', path], {
        env: { ...process.env, BENCH_PUBLISHER: JSON.stringify(publisher) },
        maxBuffer: 1 << 24,
      })
    ).stdout,
  );
  const verifyRate = verified.receipts / verified.seconds;
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const message = new Uint8Array(700);
  const signature = sign(null, message, privateKey);
  let n = 0;
  const started = performance.now();
  const cpu = process.cpuUsage();
  while (performance.now() - started < 3_000) {
    for (let i = 0; i < 100; i++) verify(null, message, publicKey, signature);
    n += 100;
  }
  const raw = n / ((performance.now() - started) / 1000);
  const used = process.cpuUsage(cpu);
  const rawPerCpu = n / ((used.user + used.system) / 1e6);
  const perCpu = verified.receipts / verified.cpuSeconds;
  console.log(
    `verify:  ${Math.round(verifyRate).toLocaleString('en-US').padStart(7)} receipts/s  (${verified.seconds.toFixed(1)} s, ok ${verified.ok}, peak RSS ${verified.peakRssMb} MB)`,
  );
  console.log(
    `raw Ed25519 verify, one core: ${Math.round(raw).toLocaleString('en-US')}/s; verification = ${(verifyRate / raw).toFixed(2)} × raw`,
  );
  console.log(
    `per CPU second (all threads, load-independent): verify ${Math.round(perCpu).toLocaleString('en-US')} receipts, raw ${Math.round(rawPerCpu).toLocaleString('en-US')} verifies: ${(perCpu / rawPerCpu).toFixed(2)} × raw per core used`,
  );
}

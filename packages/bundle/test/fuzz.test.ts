/**
 * 1,000 mutations of one small valid bundle (made by the real writer with real signers):
 * flipped bytes, truncations, duplicated, renamed and dropped entries, huge sizes in local
 * and central headers, hostile lines and documents. Every run must end in a report or a
 * clean BundleError, within a time bound, and no mutation that changed what the zip holds
 * may verify. A sample runs through the command line as a user would.
 *
 * "Passed unchanged" counts mutations that verify because every entry still has its name and
 * bytes as yauzl reads them (e.g. a local header's sizes, times or CRC, which the reader
 * takes from the central directory instead); any other pass fails the test.
 * Replay or widen with FUZZ_SEED, FUZZ_CASES and FUZZ_CLI_SAMPLE.
 */
import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { canonicalJson } from '@quittance/format';
import { BundleError, FILES, verifyBundle } from '@quittance/verifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, makeFixture } from './fixture';
import { type CentralRecord, centralDirectory, extractAll, FIELD, zipEntries } from './zip-tools';

const CASES = Number(process.env.FUZZ_CASES ?? 1_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_120);
const CASE_TIMEOUT_MS = 10_000;
const CLI_SAMPLE = Number(process.env.FUZZ_CLI_SAMPLE ?? 20);

type Outcome = 'refuted' | 'unreadable' | 'benign' | 'accepted' | 'crash' | 'hang';

interface Case {
  n: number;
  kind: string;
  detail: string;
  path: string;
  outcome?: Outcome;
  error?: string;
}

/** mulberry32: a small seeded PRNG, so that a failing case can be replayed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  return { next, int, pick };
}

let f: Fixture;
let original: Buffer;
let records: CentralRecord[];
let entries: [string, Buffer][];
const cases: Case[] = [];

beforeAll(async () => {
  f = await makeFixture();
  original = await readFile(f.path);
  records = centralDirectory(original).records;
  entries = (await extractAll(f.path)) as [string, Buffer][];
}, 60_000);
afterAll(() => rm(f.dir, { recursive: true, force: true }));

const HUGE_SIZES = [2 ** 31, 2 ** 32 - 1, 1.5 * 2 ** 30 + 1, 0x7fff_ffff, 1_000_000_000];

/** Lines an attacker or a broken disk could put in a JSON Lines file or a JSON document. */
function hostileText(r: ReturnType<typeof prng>, line: string): string | Buffer {
  const choices: (() => string | Buffer)[] = [
    () => 'not json',
    () => 'null',
    () => '[]',
    () => '42',
    () => '"a string"',
    () => '{}',
    () => `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
    () => `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`,
    () => 'x'.repeat(2 * 1024 * 1024),
    () => Buffer.from([0xff, 0xfe, 0x7b, 0x7d]),
    () => line.slice(0, r.int(Math.max(1, line.length))),
    () => {
      try {
        const value = JSON.parse(line);
        const keys = Object.keys(value);
        if (!keys.length) return 'null';
        const key = r.pick(keys);
        if (r.next() < 0.5) delete value[key];
        else value[key] = r.pick([null, 0, -1, 1e308, 'x', [], { toString: 1, valueOf: 1 }]);
        return JSON.stringify(value);
      } catch {
        return '{"mangled":true}';
      }
    },
  ];
  return r.pick(choices)();
}

/** Builds the zip of one mutation; every kind changes the bytes the bundle is made of. */
async function mutate(c: Case, r: ReturnType<typeof prng>): Promise<void> {
  const zip = Buffer.from(original);
  const record = r.pick(records);
  const rezip = (list: [string, Buffer][]) => zipEntries(c.path, list);
  const entryIndex = r.int(entries.length);
  const [name, data] = entries[entryIndex] as [string, Buffer];
  switch (c.kind) {
    case 'flip-byte': {
      const at = r.int(zip.length);
      zip[at] = (zip[at] as number) ^ (1 + r.int(255));
      c.detail = `byte ${at}`;
      return writeFile(c.path, zip);
    }
    case 'flip-data': {
      const at = record.dataStart + r.int(Math.max(1, record.compressedSize));
      zip[at] = (zip[at] as number) ^ (1 + r.int(255));
      c.detail = `${record.name} data byte ${at}`;
      return writeFile(c.path, zip);
    }
    case 'truncate-file': {
      const at = r.int(zip.length);
      c.detail = `at ${at} of ${zip.length}`;
      return writeFile(c.path, zip.subarray(0, at));
    }
    case 'central-size':
    case 'local-size': {
      const field = r.pick(['compressedSize', 'uncompressedSize'] as const);
      const size = r.next() < 0.7 ? r.pick(HUGE_SIZES) : record[field] + r.pick([1, -1, 7, 4096]);
      const value = Math.max(0, Math.min(2 ** 32 - 1, size));
      const at =
        c.kind === 'central-size'
          ? record.central + FIELD.central[field]
          : record.local + FIELD.local[field];
      zip.writeUInt32LE(value, at);
      c.detail = `${record.name} ${field} = ${value}`;
      return writeFile(c.path, zip);
    }
    case 'truncate-entry': {
      const at = r.int(Math.max(1, data.length));
      c.detail = `${name} to ${at} of ${data.length} bytes`;
      return rezip(entries.map(([n, d], i) => [n, i === entryIndex ? d.subarray(0, at) : d]));
    }
    case 'duplicate-entry': {
      const copy = Buffer.from(data);
      if (r.next() < 0.5 && copy.length) {
        const at = r.int(copy.length);
        copy[at] = (copy[at] as number) ^ 0x20;
      }
      const list = [...entries];
      list.splice(r.int(list.length + 1), 0, [name, copy]);
      c.detail = `${name}${copy.equals(data) ? '' : ' (altered copy)'}`;
      return rezip(list);
    }
    case 'rename-entry': {
      const renamed = r.pick([
        `${name}x`,
        name.toUpperCase() === name ? name.toLowerCase() : name.toUpperCase(),
        `extra/${name}`,
        name.startsWith('jwks/') ? 'jwks/2026-12.json' : `jwks/${name}`,
        r.pick(entries.filter(([n]) => n !== name))[0],
      ]);
      c.detail = `${name} → ${renamed}`;
      return rezip(entries.map(([n, d], i) => [i === entryIndex ? renamed : n, d]));
    }
    case 'drop-entry':
      c.detail = name;
      return rezip(entries.filter((_, i) => i !== entryIndex));
    case 'flip-content': {
      const copy = Buffer.from(data);
      const at = r.int(Math.max(1, copy.length));
      copy[at] = ((copy[at] ?? 0) ^ (1 + r.int(255))) & 0xff;
      c.detail = `${name} byte ${at}`;
      return rezip(entries.map(([n, d], i) => [n, i === entryIndex ? copy : d]));
    }
    case 'edit-line': {
      const jsonl = entries.filter(([n]) => n.endsWith('.jsonl') || n.endsWith('.json'));
      const [target, content] = r.pick(jsonl);
      const all = content.toString('utf8').replace(/\n$/, '').split('\n');
      const i = r.int(all.length);
      const op = r.pick(['replace', 'replace', 'replace', 'delete', 'repeat', 'swap'] as const);
      let out: Buffer;
      if (op === 'replace') {
        const hostile = hostileText(r, all[i] as string);
        const parts: Buffer[] = all.map((l) => Buffer.from(l));
        parts[i] = Buffer.isBuffer(hostile) ? hostile : Buffer.from(hostile);
        out = Buffer.concat(parts.flatMap((p) => [p, Buffer.from('\n')]));
      } else {
        if (op === 'delete') all.splice(i, 1);
        if (op === 'repeat') all.splice(i, 0, all[i] as string);
        if (op === 'swap' && all.length > 1) {
          const j = (i + 1) % all.length;
          [all[i], all[j]] = [all[j] as string, all[i] as string];
        }
        out = Buffer.from(`${all.join('\n')}\n`);
      }
      if (out.equals(content)) out = Buffer.concat([content, Buffer.from('{}\n')]);
      c.detail = `${target} line ${i + 1}: ${op}`;
      return rezip(entries.map(([n, d]) => [n, n === target ? out : d]));
    }
    default:
      throw new Error(`unknown mutation ${c.kind}`);
  }
}

const KINDS = [
  'flip-byte',
  'flip-byte',
  'flip-data',
  'truncate-file',
  'central-size',
  'local-size',
  'truncate-entry',
  'duplicate-entry',
  'rename-entry',
  'drop-entry',
  'flip-content',
  'edit-line',
  'edit-line',
] as const;

/**
 * Whether a zip still says exactly what the original says: every entry's name and bytes,
 * except what no signature covers by design: manifest.json is signed as its JCS form (its
 * whitespace and member order are free), manifest.jws is read trimmed.
 */
async function same(path: string): Promise<boolean> {
  const got = await extractAll(path);
  const equal = (name: string, a: Buffer, b: Buffer) => {
    if (a.equals(b)) return true;
    if (name === FILES.manifestJws) return a.toString().trim() === b.toString().trim();
    if (name !== FILES.manifest) return false;
    try {
      return canonicalJson(JSON.parse(a.toString())) === canonicalJson(JSON.parse(b.toString()));
    } catch {
      return false;
    }
  };
  return (
    got !== null &&
    got.length === entries.length &&
    got.every(([n, d], i) => n === entries[i]?.[0] && equal(n, d, entries[i]?.[1] as Buffer))
  );
}

async function run(c: Case): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<'hang'>((resolve) => {
    timer = setTimeout(() => resolve('hang'), CASE_TIMEOUT_MS);
  });
  try {
    const result = await Promise.race([verifyBundle(c.path, { publisher: f.publisher }), hang]);
    if (result === 'hang') c.outcome = 'hang';
    else if (!result.ok) c.outcome = 'refuted';
    // It verifies: only a mutation that left every entry's name and bytes as they were may.
    else c.outcome = (await same(c.path)) ? 'benign' : 'accepted';
  } catch (error) {
    if (error instanceof BundleError) c.outcome = 'unreadable';
    else {
      c.outcome = 'crash';
      c.error = (error as Error).stack ?? String(error);
    }
  } finally {
    clearTimeout(timer);
  }
}

describe('fuzz: mutated bundles', () => {
  it(`${CASES} mutations: no crash, no hang, nothing altered verifies`, async () => {
    const r = prng(SEED);
    const started = performance.now();
    for (let n = 1; n <= CASES; n++) {
      const c: Case = { n, kind: r.pick(KINDS), detail: '', path: join(f.dir, `fuzz-${n}.zip`) };
      await mutate(c, r);
      await run(c);
      cases.push(c);
    }
    const count = (o: Outcome) => cases.filter((c) => c.outcome === o).length;
    const byKind: Record<string, Partial<Record<Outcome, number>>> = {};
    for (const c of cases) {
      const k = byKind[c.kind] ?? {};
      byKind[c.kind] = k;
      k[c.outcome as Outcome] = (k[c.outcome as Outcome] ?? 0) + 1;
    }
    console.log(
      `fuzz (seed ${SEED}): ${cases.length} mutations in ${((performance.now() - started) / 1000).toFixed(1)} s: ` +
        `${count('refuted')} refuted, ${count('unreadable')} unreadable, ` +
        `${count('benign')} passed unchanged (zip bytes no reader looks at), ` +
        `${count('accepted')} altered yet accepted, ${count('crash')} crashes, ${count('hang')} hangs`,
    );
    console.table(byKind);
    const bad = cases.filter((c) => ['crash', 'hang', 'accepted'].includes(c.outcome as string));
    for (const c of bad.slice(0, 5))
      console.log(`#${c.n} ${c.kind} ${c.detail}: ${c.outcome}\n${c.error ?? ''}`);
    expect(bad.map((c) => `#${c.n} ${c.kind} ${c.detail}: ${c.outcome}`)).toEqual([]);
    expect(count('refuted')).toBeGreaterThan(CASES / 3);
    expect(count('unreadable')).toBeGreaterThan(CASES / 20);
  }, 180_000);

  it(`a sample of ${CLI_SAMPLE} through the command line: exit 1 or 2, never a stack`, async () => {
    const root = resolve(import.meta.dirname, '../../..');
    const bin = join(root, 'node_modules/.bin/quittance');
    const publisherPath = join(f.dir, 'publisher.json');
    await writeFile(publisherPath, JSON.stringify(f.publisherJwks));
    // Alternate refuted and unreadable cases, spread over the kinds.
    const refuted = cases.filter((c) => c.outcome === 'refuted');
    const unreadable = cases.filter((c) => c.outcome === 'unreadable');
    const sample: Case[] = [];
    for (let i = 0; sample.length < CLI_SAMPLE && i < CASES; i++) {
      const from = i % 2 ? unreadable : refuted;
      const c = from[Math.floor((i / 2) * 7) % Math.max(1, from.length)];
      if (c && !sample.includes(c)) sample.push(c);
    }
    const execute = promisify(execFile);
    const results: { c: Case; code: number; stderr: string }[] = [];
    const queue = [...sample];
    await Promise.all(
      Array.from({ length: 3 }, async () => {
        for (let c = queue.shift(); c; c = queue.shift()) {
          try {
            await execute(bin, ['verify', c.path, '--publisher', publisherPath], {
              cwd: root,
              timeout: 60_000, // a hang fails the case (no exit status 1 or 2)
            });
            results.push({ c, code: 0, stderr: '' });
          } catch (error) {
            const e = error as { code: number; stderr: string };
            results.push({ c, code: e.code, stderr: e.stderr });
          }
        }
      }),
    );
    console.log(
      `fuzz through the CLI: ${results.length} runs, exit 1: ${results.filter((x) => x.code === 1).length}, exit 2: ${results.filter((x) => x.code === 2).length}`,
    );
    for (const { c, code, stderr } of results) {
      const where = `#${c.n} ${c.kind} ${c.detail}`;
      expect(stderr, where).not.toMatch(/^\s+at /m);
      expect(code, where).toBe(c.outcome === 'refuted' ? 1 : 2);
      if (code === 2) expect(stderr.trim().split('\n'), where).toHaveLength(1);
    }
  }, 180_000);
});

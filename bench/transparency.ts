/**
 * The log tree (issue 12), on PostgreSQL, in one run:
 *  - proof generation with BENCH_TREE_ENTRIES (default 1,000,000) entries of one merchant:
 *    storing the subtree roots (the checkpoint job's work as the log grows), the first proof,
 *    then p50/p99 of 1,000
 *    proofs of random receipts through the API app (routing, auth, queries, hashing; no
 *    socket), and the tree's storage per entry;
 *  - issuance in-process with the tree, and the tree's own share of it: the time appending
 *    the same entries to a frontier in the same batch sizes takes. Asserts nothing.
 *   npm run bench:tree
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, createServices, loadConfig } from '@quittance/api';
import { rowsOf } from '@quittance/db';
import { appendToFrontier, merkleRoot, verifyInclusion } from '@quittance/format';
import { createTestDatabase } from '@quittance/test-tooling';
import { sql } from 'drizzle-orm';
import { LogTree } from '../apps/api/src/transparency/log-tree';

const N = Number(process.env.BENCH_TREE_ENTRIES ?? 1_000_000);
const ISSUES = Number(process.env.BENCH_TREE_ISSUES ?? 5_000);
const database = await createTestDatabase();
const dir = await mkdtemp(join(tmpdir(), 'quittance-bench-tree-'));
const services = await createServices(
  loadConfig({
    DATABASE_URL: database.url,
    QUITTANCE_DATA_DIR: dir,
    QUITTANCE_ADMIN_TOKEN: 'bench-admin-token-0123456789abcdef',
    LOG_LEVEL: 'warn',
  }),
);
const app = createApp(services);
const { db } = services;
const ms = (from: number) => performance.now() - from;
const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;

try {
  // 1. A log of N entries, written by SQL (issuing N receipts would take an hour here).
  await services.keyRing.createMerchant({ merchantId: 'big', jurisdiction: 'EU' });
  const { apiKey } = await services.apiKeys.create('big', 'merchant');
  let started = performance.now();
  await db.execute(sql`
    insert into receipts (id, merchant_id, seq, call_id, agent_id, bucket, tool, created_at,
      signing_key_kid, signed, jws, receipt_hash, prev_hash, entry_hash, content_hash)
    select 'trcpt_' || lpad(upper(to_hex(i)), 26, '0'), 'big', i, 'c' || i, 'agent-1', 'checkout',
      'complete_checkout', now(), 'big-2026Q4', '{}', 'x..y', '', '', encode(sha256(i::text::bytea), 'hex'), ''
    from generate_series(1, ${N}) as i`);
  const entries = rowsOf<{ entry_hash: string }>(
    await db.execute(sql`select entry_hash from receipts where merchant_id = 'big' order by seq`),
  ).map((r) => r.entry_hash);
  const rootHash = await merkleRoot(entries);
  await db.execute(sql`update chain_heads set seq = ${N} where merchant_id = 'big'`);
  await db.execute(sql`
    insert into checkpoints (merchant_id, seq, entry_hash, created_at, signing_key_kid, signed, jws)
    values ('big', ${N}, ${entries.at(-1)}, now(), 'big-2026Q4',
      ${JSON.stringify({ merchantId: 'big', seq: N, entryHash: entries.at(-1), rootHash, createdAt: new Date().toISOString(), signingKeyKid: 'big-2026Q4' })},
      'x..y')`);
  console.log(
    `node ${process.version}; ${N.toLocaleString('en-US')} entries written and their root computed in ${(ms(started) / 1000).toFixed(1)} s (set-up)`,
  );

  const idOf = (seq: number) => `trcpt_${seq.toString(16).toUpperCase().padStart(26, '0')}`;
  const proof = async (seq: number) => {
    const r = await app.request(`/api/v1/trust/receipts/${idOf(seq)}/proof`, {
      headers: { authorization: `Bearer ${apiKey}` },
    });
    if (r.status !== 200) throw new Error(`proof of ${seq}: ${r.status} ${await r.text()}`);
    return r.json() as Promise<{ auditPath: string[] }>;
  };
  // What the checkpoint job does as the log grows, here all at once.
  started = performance.now();
  await new LogTree(db).fill('big', N);
  console.log(
    `storing every complete subtree root of ≥ 256 entries, once: ${(ms(started) / 1000).toFixed(1)} s`,
  );
  started = performance.now();
  const first = await proof(1);
  console.log(`first proof: ${ms(started).toFixed(1)} ms`);
  const check = await verifyInclusion({
    entryHash: entries[0] as string,
    seq: 1,
    treeSize: N,
    auditPath: first.auditPath,
    rootHash,
  });
  if (!check.ok) throw new Error(`the first proof does not verify: ${check.reason}`);
  const times: number[] = [];
  for (let i = 0; i < 1_000; i++) {
    const seq = 1 + Math.floor(Math.random() * N);
    const t = performance.now();
    await proof(seq);
    times.push(ms(t));
  }
  times.sort((a, b) => a - b);
  // The same API path reading the receipt itself: the floor a proof adds to.
  const reads: number[] = [];
  for (let i = 0; i < 1_000; i++) {
    const t = performance.now();
    await app.request(`/api/v1/trust/receipts/${idOf(1 + Math.floor(Math.random() * N))}`, {
      headers: { authorization: `Bearer ${apiKey}` },
    });
    reads.push(ms(t));
  }
  reads.sort((a, b) => a - b);
  const [size] = rowsOf<{ bytes: string; rows: string }>(
    await db.execute(
      sql`select pg_total_relation_size('log_subtrees')::text as bytes, (select count(*) from log_subtrees)::text as rows`,
    ),
  );
  console.log(
    `proof at ${N.toLocaleString('en-US')} entries: p50 ${quantile(times, 0.5).toFixed(2)} ms, p99 ${quantile(times, 0.99).toFixed(2)} ms (target p99 ≤ 5 ms); ` +
      `reading a receipt on the same path: p50 ${quantile(reads, 0.5).toFixed(2)} ms, p99 ${quantile(reads, 0.99).toFixed(2)} ms`,
  );
  console.log(
    `tree storage: ${size?.rows} stored subtree roots, ${((Number(size?.bytes) / N) as number).toFixed(2)} bytes per entry (plus the head's frontier, at most 64 hashes)`,
  );

  // 2. Issuance with the tree, and the tree's share of it.
  const { apiKey: issuerKey } = await services.apiKeys.create(
    (await services.keyRing.createMerchant({ merchantId: 'issuer', jurisdiction: 'EU' }))
      .merchantId,
    'merchant',
  );
  const batches: number[] = [];
  services.appender.stats.onBatch = (n) => batches.push(n);
  started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < ISSUES) {
        const i = next++;
        const r = await app.request('/api/v1/trust/receipts', {
          method: 'POST',
          headers: { authorization: `Bearer ${issuerKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            callId: `c-${i}`,
            agentId: 'agent-1',
            bucket: 'checkout',
            tool: 'complete_checkout',
            input: { i, pad: 'x'.repeat(900) },
            output: { ok: true },
          }),
        });
        if (r.status !== 201) throw new Error(`issue: ${r.status}`);
      }
    }),
  );
  const issueMs = ms(started);
  // The same appends to a frontier, in the batch sizes the appender used.
  const hashes = Array.from({ length: ISSUES }, () => randomBytes(32).toString('hex'));
  started = performance.now();
  let frontier: string[] = [];
  let sizeSoFar = 0;
  for (const n of batches) {
    frontier = await appendToFrontier(frontier, sizeSoFar, hashes.slice(sizeSoFar, sizeSoFar + n));
    sizeSoFar += n;
  }
  const treeMs = ms(started);
  console.log(
    `issuance in-process: ${Math.round(ISSUES / (issueMs / 1000))} receipts/s (${batches.length} batches, mean ${(ISSUES / batches.length).toFixed(1)}); ` +
      `the tree's appends took ${treeMs.toFixed(0)} ms of ${issueMs.toFixed(0)} ms: with the tree ≈ ${(1 - treeMs / issueMs).toFixed(3)}× without it (target ≥ 0.9×)`,
  );
} finally {
  await services.close();
  await database.drop();
  await rm(dir, { recursive: true, force: true });
}

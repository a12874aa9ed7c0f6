/**
 * The log tree (issue 12), on PostgreSQL, in one run:
 *  - proof generation with BENCH_TREE_ENTRIES (default 1,000,000) entries of one merchant and
 *    two checkpoints: filling the tiles (the checkpoint job's work as the log grows, here all
 *    at once), the first proof, then p50/p99 of 2,000 inclusion proofs of random receipts and
 *    2,000 consistency proofs between the checkpoints, interleaved with 2,000 receipt reads
 *    (after 1,000 rounds of the three to warm up),
 *    through the API app (routing, auth, queries, hashing; no socket), and the tree's storage
 *    per entry;
 *  - issuance in-process with the tree, and the tree's own share of it: the time the same
 *    frontier growth takes in PL/pgSQL, as the append statement does it, plus filling their
 *    tiles a checkpoint of 1,000 at a time. Asserts nothing.
 *   npm run bench:tree   (BENCH_TREE_ENTRIES=100000 for a quicker run)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, createServices, loadConfig } from '@quittance/api';
import { rowsOf } from '@quittance/db';
import { merkleRoot, verifyConsistency, verifyInclusion } from '@quittance/format';
import { createTestDatabase } from '@quittance/test-tooling';
import { sql } from 'drizzle-orm';
import { LogTree } from '../apps/api/src/transparency/log-tree';

const N = Number(process.env.BENCH_TREE_ENTRIES ?? 1_000_000);
const ISSUES = Number(process.env.BENCH_TREE_ISSUES ?? 5_000);
const [WARM_ROUNDS, ROUNDS] = [1_000, 2_000];
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
  // In statements of 100,000: one of a million can outlast the statement timeout on a busy host.
  for (let from = 1; from <= N; from += 100_000)
    await db.execute(sql`
      insert into receipts (id, merchant_id, seq, call_id, agent_id, bucket, tool, created_at,
        signing_key_kid, signed, jws, receipt_hash, prev_hash, entry_hash, content_hash)
      select 'trcpt_' || lpad(upper(to_hex(i)), 26, '0'), 'big', i, 'c' || i, 'agent-1', 'checkout',
        'complete_checkout', now(), 'big-2026Q4', '{}', 'x..y', '', '', encode(sha256(i::text::bytea), 'hex'), ''
      from generate_series(${from}::bigint, ${Math.min(N, from + 99_999)}::bigint) as i`);
  let entries = rowsOf<{ entry_hash: string }>(
    await db.execute(sql`select entry_hash from receipts where merchant_id = 'big' order by seq`),
  ).map((r) => r.entry_hash);
  const rootHash = await merkleRoot(entries);
  await db.execute(sql`update chain_heads set seq = ${N} where merchant_id = 'big'`);
  // The newest checkpoint at N, an older one some thousand entries before it.
  const older = N - 1_037;
  const olderRoot = await merkleRoot(entries.slice(0, older));
  for (const [seq, root] of [
    [older, olderRoot],
    [N, rootHash],
  ] as const)
    await db.execute(sql`
      insert into checkpoints (merchant_id, seq, entry_hash, created_at, signing_key_kid, signed, jws)
      values ('big', ${seq}, ${entries[seq - 1]}, now(), 'big-2026Q4',
        ${JSON.stringify({ merchantId: 'big', seq, entryHash: entries[seq - 1], rootHash: root, createdAt: new Date().toISOString(), signingKeyKid: 'big-2026Q4' })},
        'x..y')`);
  const firstEntry = entries[0] as string;
  // Let the million strings go: an API process holds none, and their old-space GC would be
  // counted in the latencies below.
  entries = [];
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
    `filling the tiles of every level-4 node and up, once: ${(ms(started) / 1000).toFixed(1)} s`,
  );
  // What autovacuum would have done by now, done before measuring rather than during it.
  await db.execute(sql`vacuum analyze receipts, log_subtrees`);
  started = performance.now();
  const first = await proof(1);
  console.log(`first proof: ${ms(started).toFixed(1)} ms`);
  const check = await verifyInclusion({
    entryHash: firstEntry,
    seq: 1,
    treeSize: N,
    auditPath: first.auditPath,
    rootHash,
  });
  if (!check.ok) throw new Error(`the first proof does not verify: ${check.reason}`);
  const consistency = async () => {
    const r = await app.request(`/api/v1/trust/checkpoints/consistency?from=${older}&to=${N}`, {
      headers: { authorization: `Bearer ${apiKey}` },
    });
    if (r.status !== 200) throw new Error(`consistency: ${r.status} ${await r.text()}`);
    return r.json() as Promise<{ proof: string[] }>;
  };
  const consistent = await verifyConsistency({
    from: older,
    to: N,
    fromRoot: olderRoot,
    toRoot: rootHash,
    proof: (await consistency()).proof,
  });
  if (!consistent.ok)
    throw new Error(`the consistency proof does not verify: ${consistent.reason}`);
  const calls = {
    inclusion: () => proof(1 + Math.floor(Math.random() * N)),
    consistency,
    // The same API path reading the receipt itself: the floor a proof adds to.
    read: () =>
      app.request(`/api/v1/trust/receipts/${idOf(1 + Math.floor(Math.random() * N))}`, {
        headers: { authorization: `Bearer ${apiKey}` },
      }),
  };
  // 2,000 rounds of one call of each kind, interleaved so that whatever else the host runs
  // meanwhile weighs on the three alike, after 1,000 rounds of warming up: a fresh process
  // spends about 1.7× the CPU per call in its first few thousand calls, while the JIT is
  // still optimizing, and an API process serving proofs is past that.
  const sorted = { inclusion: [] as number[], consistency: [] as number[], read: [] as number[] };
  // The process's CPU time per call too: less at the mercy of the host's other work.
  const cpu = { inclusion: 0, consistency: 0, read: 0 };
  for (let round = -WARM_ROUNDS; round < ROUNDS; round++)
    for (const kind of ['inclusion', 'consistency', 'read'] as const) {
      const [t, c] = [performance.now(), process.cpuUsage()];
      await calls[kind]();
      if (round < 0) continue;
      sorted[kind].push(ms(t));
      const used = process.cpuUsage(c);
      cpu[kind] += (used.user + used.system) / 1000 / ROUNDS;
    }
  for (const list of Object.values(sorted)) list.sort((a, b) => a - b);
  const { inclusion: times, consistency: consistencyTimes, read: reads } = sorted;
  const [size] = rowsOf<{ bytes: string; rows: string }>(
    await db.execute(
      sql`select pg_total_relation_size('log_subtrees')::text as bytes, (select count(*) from log_subtrees)::text as rows`,
    ),
  );
  const figures = (sorted: number[], cpuMs: number) =>
    `p50 ${quantile(sorted, 0.5).toFixed(2)} ms, p99 ${quantile(sorted, 0.99).toFixed(2)} ms (CPU ${cpuMs.toFixed(2)} ms; ` +
    `${((100 * sorted.filter((t) => t > 5).length) / sorted.length).toFixed(1)}% over 5 ms)`;
  console.log(
    `at ${N.toLocaleString('en-US')} entries (target p99 ≤ 5 ms): inclusion proof ${figures(times, cpu.inclusion)}; ` +
      `consistency proof (${older} → ${N}) ${figures(consistencyTimes, cpu.consistency)}; reading a receipt on the same path ${figures(reads, cpu.read)}`,
  );
  console.log(
    `tree storage: ${size?.rows} tiles, ${((Number(size?.bytes) / N) as number).toFixed(2)} bytes per entry with their index (plus the head's frontier, at most 64 hashes)`,
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
  // The tree's share of the append statement (quittance_append, migration 0007): the same
  // leaf and merge hashing and frontier edits in PL/pgSQL, for as many entries, timed alone.
  started = performance.now();
  await db.execute(
    sql.raw(`DO $$ DECLARE f text[] := '{}'; v bytea; s int8; BEGIN
      FOR n IN 0 .. ${ISSUES - 1} LOOP
        v := sha256('\\x00'::bytea || sha256(n::text::bytea)); s := n;
        WHILE s % 2 = 1 LOOP
          v := sha256('\\x01'::bytea || decode(f[cardinality(f)], 'hex') || v);
          f := f[1 : cardinality(f) - 1]; s := s / 2;
        END LOOP;
        f := f || encode(v, 'hex');
      END LOOP; END $$`),
  );
  const appendMs = ms(started);
  // The checkpoint job's share: the tiles of the issued entries, a checkpoint of 1,000 at a time.
  started = performance.now();
  for (let size = Math.min(1_000, ISSUES); ; size = Math.min(size + 1_000, ISSUES)) {
    await new LogTree(db).fill('issuer', size);
    if (size === ISSUES) break;
  }
  const fillMs = ms(started);
  const treeMs = appendMs + fillMs;
  console.log(
    `issuance in-process: ${Math.round(ISSUES / (issueMs / 1000))} receipts/s (${batches.length} batches, mean ${(ISSUES / batches.length).toFixed(1)}); ` +
      `the tree's frontier appends took ${appendMs.toFixed(0)} ms and its tiles ${fillMs.toFixed(0)} ms of ${issueMs.toFixed(0)} ms: with the tree ≈ ${(1 - treeMs / issueMs).toFixed(3)}× without it (target ≥ 0.9×)`,
  );
} finally {
  await services.close();
  await database.drop();
  await rm(dir, { recursive: true, force: true });
}

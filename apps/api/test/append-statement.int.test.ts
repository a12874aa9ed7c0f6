import { randomBytes } from 'node:crypto';
import { type Database, migrate, openDatabase } from '@quittance/db';
import { toBase64 } from '@quittance/format';
import { createTestDatabase, type TestDatabase } from '@quittance/test-tooling';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type AppendItem,
  bodiesOf,
  ChainAppender,
  sharedColumns,
} from '../src/chain/chain-appender';

/**
 * The append statement (migrations 0007 and 0008) on both drivers: sealed bodies sent packed
 * in one parameter land byte for byte in their rows, only for receipts the batch created;
 * 0007's signature, kept for API processes of the previous release, stores the same. A body
 * sealed under a vault key that does not exist fails its whole batch (a foreign key), and
 * nothing of that batch is written.
 */
const MERCHANT = 'm-append';
const KID = 'kid-append';
const VAULT_KEY = 'vk-append';
let sequence = 0;

function item(callId: string, bodyLengths?: [number, number]): AppendItem {
  sequence++;
  const id = `trcpt_${String(sequence).padStart(26, '0')}`;
  return {
    record: {
      id,
      merchantId: MERCHANT,
      callId,
      agentId: 'agent',
      orderId: null,
      bucket: 'checkout',
      tool: 'complete_checkout',
      createdAt: new Date(Date.UTC(2026, 11, 1, 0, 0, sequence)),
      signingKeyKid: KID,
      signed: '{}',
      jws: 'x..y',
      receiptHash: 'ab'.repeat(32),
      contentHash: `content-${callId}`,
      hasBodies: bodyLengths ? 1 : 0,
    },
    // IVs of unusual lengths too: the offsets, not a fixed 12 bytes, say where each part is.
    bodies: bodyLengths
      ? (['input', 'output'] as const).map((kind, k) => ({
          kind,
          vaultKeyId: VAULT_KEY,
          iv: new Uint8Array(randomBytes(k === 0 ? 12 : 7)),
          ciphertext: new Uint8Array(randomBytes(bodyLengths[k] as number)),
        }))
      : [],
  };
}

async function prepare(database: Database) {
  await migrate(database.db);
  await database.rawQuery(`insert into merchants (id, jurisdiction) values ($1, 'EU')`, [MERCHANT]);
  await database.rawQuery(
    `insert into chain_heads (merchant_id, seq, entry_hash) values ($1, 0, $2)`,
    [MERCHANT, '0'.repeat(64)],
  );
  await database.rawQuery(
    `insert into signing_keys (kid, merchant_id, backend, key_ref, x, nbf, status)
      values ($1, $2, 'local', 'ref', 'x', '2026-01-01T00:00:00Z', 'active')`,
    [KID, MERCHANT],
  );
  await database.rawQuery(
    `insert into vault_keys (id, merchant_id, month, wrapper) values ($1, $2, '2026-12', 'local')`,
    [VAULT_KEY, MERCHANT],
  );
}

async function storedBodies(database: Database) {
  const rows = await database.rawQuery<{
    receipt_id: string;
    kind: string;
    iv: string;
    ct: string;
  }>(
    `select receipt_id, kind, encode(iv, 'base64') as iv, encode(ciphertext, 'base64') as ct
      from receipt_bodies order by receipt_id, kind`,
  );
  // PostgreSQL's base64 breaks lines every 76 characters.
  return rows.map((r) => ({ ...r, iv: r.iv.replaceAll('\n', ''), ct: r.ct.replaceAll('\n', '') }));
}

const expected = (items: AppendItem[]) =>
  items
    .flatMap((i) =>
      i.bodies.map((b) => ({
        receipt_id: i.record.id,
        kind: b.kind,
        iv: toBase64(b.iv),
        ct: toBase64(b.ciphertext),
      })),
    )
    .sort((a, b) => (a.receipt_id + a.kind < b.receipt_id + b.kind ? -1 : 1));

const OLD_SIGNATURE = `select item, outcome, chain_seq from quittance_append($1::text[],
  $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
  $10::text[], $11::text[], $12::text[], $13::text[], $14::int4[], $15::text[], $16::text[],
  $17::text[], $18::text[], $19::text[])`;

/** 0007's parameters, as an API process of the previous release sends them. */
function oldParams(items: AppendItem[]): unknown[] {
  const bodies = bodiesOf(items);
  return [
    ...sharedColumns(items, bodies),
    bodies.map((b) => toBase64(b.iv)),
    bodies.map((b) => toBase64(b.ciphertext)),
  ];
}

const pg: TestDatabase[] = [];
afterAll(async () => {
  for (const database of pg) await database.drop();
});

describe.each(['postgres', 'pglite'] as const)('the append statement on %s', (driver) => {
  const open = async () => {
    let url: string | undefined;
    if (driver === 'postgres') {
      const created = await createTestDatabase();
      pg.push(created);
      url = created.url;
    }
    return openDatabase({ url });
  };

  it('stores each created receipt bodies byte for byte, a replay none, and 0007 callers the same', async () => {
    const database = await open();
    try {
      await prepare(database);
      // One statement in flight: what is appended while the first runs goes in one batch.
      const appender = new ChainAppender(database, 1);
      const opening = item('z');
      // That batch: bodies of several sizes (one empty), a receipt without bodies, and a
      // replay of a callId created earlier in the batch, whose bodies must not be stored.
      const first = [item('a', [1100, 0]), item('b'), item('c', [1, 70_000])];
      const replay = item('a', [5, 6]);
      replay.record.contentHash = (first[0] as AppendItem).record.contentHash;
      const outcomes = await Promise.all(
        [opening, ...first, replay].map((i) => appender.append(i)),
      );
      expect(outcomes.map((o) => o.kind)).toEqual([
        'created',
        'created',
        'created',
        'created',
        'replay',
      ]);
      expect(appender.stats.batches).toBe(2);
      expect(await storedBodies(database)).toEqual(expected(first));

      const older = [item('d', [16, 33]), item('e'), item('f', [40, 2])];
      const rows = await database.rawQuery<{ outcome: string; chain_seq: string | number }>(
        OLD_SIGNATURE,
        oldParams(older),
      );
      expect(rows.map((r) => [r.outcome, Number(r.chain_seq)])).toEqual([
        ['created', 5],
        ['created', 6],
        ['created', 7],
      ]);
      expect(await storedBodies(database)).toEqual(expected([...first, ...older]));
    } finally {
      await database.close();
    }
  });

  it('refuses a batch with a body sealed under an unknown vault key, and writes none of it', async () => {
    const database = await open();
    try {
      await prepare(database);
      // One statement in flight: the three appended while the first runs go in one batch.
      const appender = new ChainAppender(database, 1);
      const stray = item('stray', [10, 10]);
      for (const body of stray.bodies) body.vaultKeyId = 'vk-missing';
      const results = await Promise.allSettled(
        [item('before', [10, 10]), item('same-batch', [3, 3]), stray, item('no-bodies')].map((i) =>
          appender.append(i),
        ),
      );
      expect(results.map((r) => r.status)).toEqual([
        'fulfilled',
        'rejected',
        'rejected',
        'rejected',
      ]);
      expect(String((results[2] as PromiseRejectedResult).reason)).toMatch(
        /receipt_bodies_vault_key_id_vault_keys_id_fk/,
      );
      const counts = await database.rawQuery(
        `select (select count(*)::int from receipts) as receipts,
          (select count(*)::int from receipt_bodies) as bodies,
          (select count(*)::int from pending_timestamps) as pending,
          (select seq::int from chain_heads where merchant_id = $1) as seq`,
        [MERCHANT],
      );
      expect(counts).toEqual([{ receipts: 1, bodies: 2, pending: 1, seq: 1 }]);
    } finally {
      await database.close();
    }
  });
});

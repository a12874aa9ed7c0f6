import { sql } from 'drizzle-orm';
import {
  bigint,
  check,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

/** bytea as Uint8Array on both drivers (postgres.js gives Buffer, a Uint8Array). */
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'bytea',
});

const createdAt = () =>
  timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow();

export const merchants = pgTable(
  'merchants',
  {
    id: text('id').primaryKey(),
    name: text('name'),
    jurisdiction: text('jurisdiction').notNull(),
    createdAt: createdAt(),
  },
  (t) => [check('merchants_jurisdiction', sql`${t.jurisdiction} in ('EU', 'US', 'BR', 'OTHER')`)],
);

/** API keys: only a SHA-256 of the (high-entropy) key is kept; looked up by its public prefix. */
export const apiKeys = pgTable(
  'api_keys',
  {
    prefix: text('prefix').primaryKey(),
    keyHash: text('key_hash').notNull(),
    merchantId: text('merchant_id')
      .notNull()
      .references(() => merchants.id),
    role: text('role').notNull(),
    agentId: text('agent_id'),
    createdAt: createdAt(),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    check('api_keys_role', sql`${t.role} in ('merchant', 'agent', 'auditor')`),
    check('api_keys_agent', sql`(${t.role} = 'agent') = (${t.agentId} is not null)`),
    index('api_keys_merchant').on(t.merchantId),
  ],
);

/** Merchant signing keys and their history (SPEC §5). `keyRef`: a key file name or a KMS ARN. */
export const signingKeys = pgTable(
  'signing_keys',
  {
    kid: text('kid').primaryKey(),
    merchantId: text('merchant_id')
      .notNull()
      .references(() => merchants.id),
    backend: text('backend').notNull(),
    keyRef: text('key_ref').notNull(),
    x: text('x').notNull(),
    nbf: timestamp('nbf', { withTimezone: true, mode: 'date' }).notNull(),
    exp: timestamp('exp', { withTimezone: true, mode: 'date' }),
    status: text('status').notNull(),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
    revocationReason: text('revocation_reason'),
    /** The compact JWS by the publisher key over {kid, revokedAt, reason}. */
    revocationStatement: text('revocation_statement'),
    createdAt: createdAt(),
  },
  (t) => [
    check('signing_keys_status', sql`${t.status} in ('active', 'retired', 'revoked')`),
    check('signing_keys_backend', sql`${t.backend} in ('local', 'kms')`),
    index('signing_keys_merchant').on(t.merchantId, t.nbf),
  ],
);

/** Head of each merchant's chain; its row lock serializes appends across processes. */
export const chainHeads = pgTable('chain_heads', {
  merchantId: text('merchant_id')
    .primaryKey()
    .references(() => merchants.id),
  seq: bigint('seq', { mode: 'number' }).notNull(),
  entryHash: text('entry_hash').notNull(),
  /**
   * The Merkle frontier (SPEC §6.1) of entries 1..seq, hex, largest subtree first: appended to
   * in the append transaction, so a checkpoint's rootHash is one fold away at any size.
   */
  frontier: text('frontier').array().notNull().default(sql`'{}'::text[]`),
});

/**
 * Receipts with their chain entry (SPEC §6). `signed` is the canonical JSON of the signed
 * members, kept as text: jsonb would reject U+0000 and could reformat numbers.
 */
export const receipts = pgTable(
  'receipts',
  {
    id: text('id').primaryKey(),
    merchantId: text('merchant_id')
      .notNull()
      .references(() => merchants.id),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    callId: text('call_id').notNull(),
    agentId: text('agent_id').notNull(),
    orderId: text('order_id'),
    bucket: text('bucket').notNull(),
    tool: text('tool').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
    signingKeyKid: text('signing_key_kid').notNull(),
    signed: text('signed').notNull(),
    jws: text('jws').notNull(),
    legalPosture: text('legal_posture').notNull().default('signed'),
    timestamp: jsonb('timestamp'),
    receiptHash: text('receipt_hash').notNull(),
    prevHash: text('prev_hash').notNull(),
    entryHash: text('entry_hash').notNull(),
    /** Hash of the idempotency-relevant content, to tell a replay from a conflict. */
    contentHash: text('content_hash').notNull(),
    hasBodies: integer('has_bodies').notNull().default(0),
  },
  (t) => [
    uniqueIndex('receipts_merchant_seq').on(t.merchantId, t.seq),
    uniqueIndex('receipts_merchant_call').on(t.merchantId, t.callId),
    index('receipts_merchant_order').on(t.merchantId, t.orderId, t.seq),
    index('receipts_merchant_agent').on(t.merchantId, t.agentId, t.seq),
    check('receipts_posture', sql`${t.legalPosture} in ('signed', 'ades_candidate_timestamped')`),
  ],
);

/** Vault data keys: one per merchant and month, wrapped by the key wrapper (SPEC §7). */
export const vaultKeys = pgTable(
  'vault_keys',
  {
    id: text('id').primaryKey(),
    merchantId: text('merchant_id')
      .notNull()
      .references(() => merchants.id),
    month: text('month').notNull(),
    wrapper: text('wrapper').notNull(),
    wrappedKey: bytea('wrapped_key'),
    createdAt: createdAt(),
    destroyedAt: timestamp('destroyed_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [uniqueIndex('vault_keys_merchant_month').on(t.merchantId, t.month)],
);

/** Encrypted bodies: AES-256-GCM, 12-byte IV, ciphertext with its 16-byte tag appended. */
export const receiptBodies = pgTable(
  'receipt_bodies',
  {
    receiptId: text('receipt_id')
      .notNull()
      .references(() => receipts.id),
    kind: text('kind').notNull(),
    vaultKeyId: text('vault_key_id')
      .notNull()
      .references(() => vaultKeys.id),
    iv: bytea('iv').notNull(),
    ciphertext: bytea('ciphertext').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.receiptId, t.kind] }),
    check('receipt_bodies_kind', sql`${t.kind} in ('input', 'output')`),
  ],
);

/** Receipts still waiting for an RFC 3161 timestamp; the durable source of timestamp work. */
export const pendingTimestamps = pgTable(
  'pending_timestamps',
  {
    receiptId: text('receipt_id')
      .primaryKey()
      .references(() => receipts.id),
    merchantId: text('merchant_id').notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true, mode: 'date' })
      .notNull()
      .defaultNow(),
    /** A worker holds the receipt while it asks the TSA, so no other asks at the same time. */
    leasedUntil: timestamp('leased_until', { withTimezone: true, mode: 'date' }),
    lastError: text('last_error'),
    createdAt: createdAt(),
  },
  (t) => [index('pending_timestamps_due').on(t.nextAttemptAt)],
);

/**
 * Tiles of a merchant's log tree (SPEC §6.1), after C2SP tlog-tiles but 16 wide and 4 high:
 * row (level, index), level a multiple of 4 from 4 up, holds the subtree under node
 * (level + 4, index) but its root: its 16 nodes of `level` and the 14 above them, 32 bytes
 * each, in the order they complete (post-order), so the last tile of a level grows by
 * appending and a row never changes otherwise. Levels 0..3 are the receipts' entry hashes.
 * Any node a proof needs is then one stored hash or the root of at most 16 entries: a proof
 * reads a row per 4 levels, whatever the log's size (apps/api/src/transparency/tiles.ts).
 */
export const logSubtrees = pgTable(
  'log_subtrees',
  {
    merchantId: text('merchant_id')
      .notNull()
      .references(() => merchants.id),
    /** log2 of the size of the subtrees whose roots are the tile's 16 lowest nodes: 4, 8, … */
    level: integer('level').notNull(),
    /** The tile's position at its level: its lowest nodes are index·16 .. index·16+15. */
    index: bigint('index', { mode: 'number' }).notNull(),
    /** 1 to 30 node hashes of 32 bytes, concatenated in post-order. */
    hashes: bytea('hashes').notNull(),
  },
  (t) => [primaryKey({ columns: [t.merchantId, t.level, t.index] })],
);

/** Signed checkpoints of a merchant's chain head (SPEC §6), timestamped like receipts. */
export const checkpoints = pgTable(
  'checkpoints',
  {
    merchantId: text('merchant_id')
      .notNull()
      .references(() => merchants.id),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    entryHash: text('entry_hash').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
    signingKeyKid: text('signing_key_kid').notNull(),
    /** Canonical JSON of the signed members. */
    signed: text('signed').notNull(),
    jws: text('jws').notNull(),
    timestamp: jsonb('timestamp'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true, mode: 'date' })
      .notNull()
      .defaultNow(),
    leasedUntil: timestamp('leased_until', { withTimezone: true, mode: 'date' }),
    lastError: text('last_error'),
  },
  (t) => [
    primaryKey({ columns: [t.merchantId, t.seq] }),
    index('checkpoints_untimestamped').on(t.nextAttemptAt).where(sql`${t.timestamp} is null`),
  ],
);

/** Published key snapshots (SPEC §5), every version kept. `document` is the exact JSON served. */
export const keySnapshots = pgTable(
  'key_snapshots',
  {
    period: text('period').notNull(),
    version: integer('version').notNull(),
    document: text('document').notNull(),
    documentHash: text('document_hash').notNull(),
    issuedAt: timestamp('issued_at', { withTimezone: true, mode: 'date' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.period, t.version] })],
);

/**
 * Secrets that processes with separate data folders share, without KMS: the publisher key,
 * the vault's key-encryption key and local merchant signing keys, each AES-256-GCM wrapped by
 * QUITTANCE_LOCAL_KEK (SPEC §11) with its name as additional data. `kekId` names the wrapping
 * key (a fingerprint), so a process given another one says so instead of failing to decrypt.
 */
export const wrappedKeys = pgTable('wrapped_keys', {
  /** `publisher`, `vault-kek`, `signing-key:<kid>`. */
  name: text('name').primaryKey(),
  kekId: text('kek_id').notNull(),
  /** IV (12 bytes), ciphertext, GCM tag (16 bytes). */
  wrapped: bytea('wrapped').notNull(),
  createdAt: createdAt(),
});

/**
 * Export bundles (SPEC §9): requested through the API, built by a job, stored in the bundle
 * store (the data folder or S3) under `bundleKey` once done; null again once retention
 * deleted the bundle.
 */
export const exports = pgTable(
  'exports',
  {
    id: text('id').primaryKey(),
    merchantId: text('merchant_id')
      .notNull()
      .references(() => merchants.id),
    /** Prefix of the API key that asked, for the audit trail. */
    requestedBy: text('requested_by').notNull(),
    jurisdiction: text('jurisdiction').notNull(),
    params: jsonb('params').notNull(),
    status: text('status').notNull().default('queued'),
    progress: integer('progress').notNull().default(0),
    total: integer('total'),
    bytes: bigint('bytes', { mode: 'number' }),
    sha256: text('sha256'),
    bundleKey: text('bundle_key'),
    error: text('error'),
    attempts: integer('attempts').notNull().default(0),
    leasedUntil: timestamp('leased_until', { withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
    startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }),
    finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    index('exports_merchant').on(t.merchantId, t.createdAt),
    check('exports_status', sql`${t.status} in ('queued', 'running', 'done', 'failed')`),
  ],
);

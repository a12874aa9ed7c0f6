import { type Db, keySnapshots, signingKeys, type Tx } from '@quittance/db';
import {
  type JwksSnapshot,
  periodOf,
  planSnapshotSignature,
  type SnapshotKey,
  snapshotHash,
  snapshotUrlPath,
} from '@quittance/format';
import { type Signer, signPlan } from '@quittance/signer';
import { and, desc, eq, sql } from 'drizzle-orm';

/** Serializes snapshot versions across processes (arbitrary constant). */
const SNAPSHOT_LOCK = 7_362_553_002;

type KeyRow = typeof signingKeys.$inferSelect;

export function toSnapshotKey(row: KeyRow): SnapshotKey {
  const key: SnapshotKey = {
    kty: 'OKP',
    crv: 'Ed25519',
    x: row.x,
    kid: row.kid,
    alg: 'EdDSA',
    use: 'sig',
    merchantId: row.merchantId,
    nbf: row.nbf.toISOString(),
    exp: row.exp ? row.exp.toISOString() : null,
    status: row.status as SnapshotKey['status'],
  };
  if (row.revokedAt) key.revokedAt = row.revokedAt.toISOString();
  if (row.revocationReason) key.revocationReason = row.revocationReason;
  return key;
}

/**
 * Publishes signed key-history snapshots (SPEC §5). A new version is written in the same
 * transaction as the key change that needs it, so no key signs before it is published.
 */
export class SnapshotService {
  readonly #known = new Set<string>();

  constructor(
    private readonly publisher: Signer,
    /** The configuration's, read at each use: startServer may set it once bound (PORT=0). */
    private readonly config: { publicUrl: string },
  ) {}

  urlOf(period: string): string {
    return `${this.config.publicUrl}${snapshotUrlPath(period)}`;
  }

  /** Writes the next version for the period of `now` inside `tx`. */
  async publish(tx: Tx, now: Date): Promise<JwksSnapshot> {
    await tx.execute(sql`select pg_advisory_xact_lock(${SNAPSHOT_LOCK})`);
    const period = periodOf(now);
    const [latest] = await tx
      .select()
      .from(keySnapshots)
      .orderBy(desc(keySnapshots.period), desc(keySnapshots.version))
      .limit(1);
    const keys = await tx
      .select()
      .from(signingKeys)
      .orderBy(signingKeys.merchantId, signingKeys.nbf, signingKeys.kid);
    const unsigned = {
      period,
      version: latest && latest.period === period ? latest.version + 1 : 1,
      issuedAt: now.toISOString(),
      prevSnapshotHash: latest ? latest.documentHash : null,
      keys: keys.map(toSnapshotKey),
      revocations: keys.flatMap((k) => (k.revocationStatement ? [k.revocationStatement] : [])),
    };
    if (latest && latest.period > period) {
      throw new Error(`snapshot ${latest.period} exists after ${period}: is the clock behind?`);
    }
    const plan = await planSnapshotSignature(unsigned, this.publisher.kid);
    const { jws } = await signPlan(plan, this.publisher);
    const snapshot: JwksSnapshot = { ...unsigned, jws };
    await tx.insert(keySnapshots).values({
      period,
      version: snapshot.version,
      document: JSON.stringify(snapshot),
      documentHash: await snapshotHash(snapshot),
      issuedAt: now,
    });
    this.#known.add(period);
    return snapshot;
  }

  /** Makes sure the period of `now` has a snapshot, e.g. on the first receipt of a month. */
  async ensure(db: Db, now: Date): Promise<void> {
    const period = periodOf(now);
    if (this.#known.has(period)) return;
    // Once per period and process: take the lock, look, publish if nobody has.
    await db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${SNAPSHOT_LOCK})`);
      const [existing] = await tx
        .select({ version: keySnapshots.version })
        .from(keySnapshots)
        .where(eq(keySnapshots.period, period))
        .limit(1);
      if (!existing) await this.publish(tx, now);
    });
    this.#known.add(period);
  }

  /** The exact document served for a period: its latest version, or a given one. */
  document(db: Db, period: string, version?: number): Promise<string | undefined> {
    return snapshotDocument(db, period, version);
  }
}

/** The exact document of a period's snapshot: its latest version, or a given one. */
async function snapshotDocument(
  db: Db,
  period: string,
  version?: number,
): Promise<string | undefined> {
  const where =
    version === undefined
      ? eq(keySnapshots.period, period)
      : and(eq(keySnapshots.period, period), eq(keySnapshots.version, version));
  const [row] = await db
    .select({ document: keySnapshots.document })
    .from(keySnapshots)
    .where(where)
    .orderBy(desc(keySnapshots.version))
    .limit(1);
  return row?.document;
}

/**
 * The kids the newest of `documents` (sorted by period, as read here) publishes and has not
 * revoked: the keys a bundle carrying these documents lets a verifier check.
 */
export function publishedKidsIn(
  documents: readonly { period: string; document: string }[],
): ReadonlySet<string> {
  const newest = documents.at(-1);
  if (!newest) return new Set();
  const { keys } = JSON.parse(newest.document) as { keys: { kid: string; status: string }[] };
  return new Set(keys.filter((key) => key.status !== 'revoked').map((key) => key.kid));
}

/**
 * The latest version of each snapshot the receipts name, and the newest snapshot too: it
 * carries revocations made after the receipts' months (bundles and order evidence alike).
 */
export async function snapshotDocuments(
  db: Db,
  periods: string[],
): Promise<{ period: string; document: string }[]> {
  const [latest] = await db
    .select({ period: keySnapshots.period })
    .from(keySnapshots)
    .orderBy(desc(keySnapshots.period))
    .limit(1);
  const wanted = [...new Set([...periods, ...(latest ? [latest.period] : [])])].sort();
  const out: { period: string; document: string }[] = [];
  for (const period of wanted) {
    const document = await snapshotDocument(db, period);
    if (document !== undefined) out.push({ period, document });
  }
  return out;
}

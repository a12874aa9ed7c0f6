import { chainHeads, checkpoints, type Db, merchants, signingKeys, type Tx } from '@quittance/db';
import { GENESIS_HASH, JWS_TYPES, kidFor } from '@quittance/format';
import { type Signer, signCompact } from '@quittance/signer';
import { and, eq, like, ne } from 'drizzle-orm';
import { assertMerchantExists, merchantExists } from '../merchants/merchants';
import { ServiceError } from '../service-error';
import { stampNewestCheckpoint } from '../timestamps/timestamp-work';
import type { Timestamper } from '../timestamps/timestamper';
import { headWithRoot, signCheckpoint } from '../transparency/checkpoint-signing';
import type { SignerFactory } from './signer-factory';
import type { SnapshotService } from './snapshots';

/** How long a process trusts its cached idea of a merchant's current key. */
const CURRENT_KEY_TTL_MS = 5_000;
/** Signing again after the key changed underneath: more than twice in a row is a retry later. */
const MAX_SIGNING_ATTEMPTS = 3;
/** The most this process waits for a key whose nbf its own clock has not reached yet. */
const MAX_CLOCK_SKEW_MS = 1_000;

/** The merchant's keys changed while a bundle was built: its manifest must be made again. */
export class KeyHistoryChanged extends Error {
  constructor(merchantId: string) {
    super(`the signing keys of ${merchantId} changed while the bundle was built`);
    this.name = 'KeyHistoryChanged';
  }
}

/** A kid's validity as the append transaction checks it (SPEC §5). */
export interface KeyWindow {
  kid: string;
  merchantId: string;
  nbf: Date;
  exp: Date | null;
  revokedAt: Date | null;
}

export function isValidAt(key: KeyWindow, at: Date): boolean {
  const t = at.getTime();
  return (
    t >= key.nbf.getTime() &&
    (key.exp === null || t < key.exp.getTime()) &&
    (key.revokedAt === null || t < key.revokedAt.getTime())
  );
}

/**
 * Merchant signing keys: creation, quarterly or on-demand rotation, revocation, and the
 * signer to use now. Every change takes the merchant's chain-head lock, so it is ordered
 * against receipt appends, and publishes a snapshot version in the same transaction.
 */
export class KeyRing {
  readonly #signers = new Map<string, Promise<Signer>>();
  readonly #current = new Map<string, { kid: string; nbf: number; expires: number }>();

  constructor(
    private readonly db: Db,
    private readonly factory: SignerFactory,
    private readonly snapshots: SnapshotService,
    private readonly publisher: Signer,
    private readonly clock: () => Date,
    /** The TSA, when one is configured: a revocation timestamps the checkpoint before it. */
    private readonly timestamper?: Timestamper,
  ) {}

  /** Creates a merchant with its chain head and first key; one transaction. */
  async createMerchant(input: {
    merchantId: string;
    jurisdiction: string;
    name?: string | undefined;
  }) {
    const now = this.clock();
    // Refused before a key is made for it (a KMS key would be left unused); the insert below
    // still decides between concurrent creations.
    if (await merchantExists(this.db, input.merchantId))
      throw new ServiceError('merchant_exists', `merchant ${input.merchantId} exists`);
    const kid = kidFor(input.merchantId, now);
    const { signer, keyRef } = await this.factory.create(kid);
    const x = (await signer.publicJwk()).x;
    await this.db.transaction(async (tx) => {
      const inserted = await tx
        .insert(merchants)
        .values({
          id: input.merchantId,
          jurisdiction: input.jurisdiction,
          name: input.name ?? null,
        })
        .onConflictDoNothing()
        .returning({ id: merchants.id });
      if (inserted.length === 0)
        throw new ServiceError('merchant_exists', `merchant ${input.merchantId} exists`);
      await tx
        .insert(chainHeads)
        .values({ merchantId: input.merchantId, seq: 0, entryHash: GENESIS_HASH });
      await tx.insert(signingKeys).values(this.#row(input.merchantId, kid, keyRef, x, now));
      await this.snapshots.publish(tx, now);
    });
    this.#signers.set(kid, Promise.resolve(signer));
    return { merchantId: input.merchantId, jurisdiction: input.jurisdiction, signingKeyKid: kid };
  }

  /** Retires the merchant's active key now and activates a new one. */
  async rotate(merchantId: string): Promise<{ kid: string }> {
    const kid = await this.#nextKid(merchantId, this.clock());
    const { signer, keyRef } = await this.factory.create(kid);
    const x = (await signer.publicJwk()).x;
    await this.db.transaction(async (tx) => {
      await this.#lockMerchant(tx, merchantId);
      await assertKidFree(tx, kid);
      await this.#checkpointBeforeChange(tx, merchantId);
      // The time is read under the lock, in a millisecond after every append committed before
      // it: retiring the old key at this instant invalidates no receipt already returned.
      const now = await this.#timeUnderLock();
      await tx
        .update(signingKeys)
        .set({ status: 'retired', exp: now })
        .where(and(eq(signingKeys.merchantId, merchantId), eq(signingKeys.status, 'active')));
      await tx.insert(signingKeys).values(this.#row(merchantId, kid, keyRef, x, now));
      await this.snapshots.publish(tx, now);
    });
    this.#signers.set(kid, Promise.resolve(signer));
    this.#current.delete(merchantId);
    return { kid };
  }

  /**
   * Revokes a key at `revokedAt` (default: the moment the revocation holds the merchant's
   * chain lock) with a publisher-signed statement. Revoking the active key also activates a
   * replacement, so the merchant can keep issuing.
   */
  async revoke(kid: string, reason: string, revokedAt?: Date) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#revokeOnce(kid, reason, revokedAt);
      } catch (error) {
        // The key's status changed between reading it and taking the lock (a rotation retired
        // it; another revocation won): read it again and decide anew. Answering `key_revoked`
        // here left a retired key unrevoked under an answer that said it was (an outside check).
        if (!(error instanceof KeyStatusChanged)) throw error;
        if (attempt >= MAX_SIGNING_ATTEMPTS)
          throw new ServiceError(
            'signing_keys_changed',
            `${kid} kept changing while it was being revoked; retry`,
          );
      }
    }
  }

  async #revokeOnce(kid: string, reason: string, revokedAt: Date | undefined) {
    const [key] = await this.db.select().from(signingKeys).where(eq(signingKeys.kid, kid));
    if (!key) throw new ServiceError('not_found', `no signing key ${kid}`);
    if (key.status === 'revoked') {
      throw new ServiceError(
        'key_revoked',
        `${kid} was revoked at ${key.revokedAt?.toISOString()}`,
      );
    }
    if (revokedAt && revokedAt.getTime() > this.clock().getTime()) {
      throw new ServiceError('invalid_request', 'revokedAt must not be in the future');
    }
    // Before its nbf the key did not exist. (Such times also reach years below 100, which
    // the database driver reads back as 19xx or 20xx: the key's row would then disagree with
    // its signed revocation statement, and every snapshot after it would fail to verify.)
    if (revokedAt && revokedAt.getTime() < key.nbf.getTime()) {
      throw new ServiceError(
        'invalid_request',
        `revokedAt must not be before the key's nbf (${key.nbf.toISOString()})`,
      );
    }
    const replacement =
      key.status === 'active'
        ? await this.#prepareReplacement(key.merchantId, this.clock())
        : undefined;
    let checkpointTimestamped: boolean | null = null;
    const at = await this.db.transaction(async (tx) => {
      await this.#lockMerchant(tx, key.merchantId);
      // A key revoked as of an earlier time must not sign anything now.
      if (!(key.status === 'active' && revokedAt))
        await this.#checkpointBeforeChange(tx, key.merchantId);
      // Revoking now: that checkpoint, or the newest before it, must prove its receipts
      // existed before the revocation (SPEC §6), so it is timestamped first.
      checkpointTimestamped =
        revokedAt || !this.timestamper
          ? null
          : await stampNewestCheckpoint(tx, this.timestamper, key.merchantId, this.clock);
      const now = await this.#timeUnderLock();
      const at = revokedAt ?? now;
      const statement = await this.#revocationStatement({
        kid,
        revokedAt: at.toISOString(),
        reason,
      });
      const updated = await tx
        .update(signingKeys)
        .set({
          status: 'revoked',
          revokedAt: at,
          revocationReason: reason,
          revocationStatement: statement,
          exp: key.exp && key.exp < at ? key.exp : at,
        })
        .where(and(eq(signingKeys.kid, kid), eq(signingKeys.status, key.status)))
        .returning({ kid: signingKeys.kid });
      if (updated.length === 0) throw new KeyStatusChanged();
      if (replacement) {
        // A rotation meanwhile took the replacement's kid (it also retired this key).
        if (await kidTaken(tx, replacement.kid)) throw new KeyStatusChanged();
        await tx
          .insert(signingKeys)
          .values(
            this.#row(key.merchantId, replacement.kid, replacement.keyRef, replacement.x, now),
          );
      }
      await this.snapshots.publish(tx, now);
      return at;
    });
    if (replacement) this.#signers.set(replacement.kid, Promise.resolve(replacement.signer));
    this.#current.delete(key.merchantId);
    return {
      kid,
      revokedAt: at.toISOString(),
      reason,
      replacementKid: replacement?.kid ?? null,
      checkpointTimestamped,
    };
  }

  /**
   * Signs with the merchant's active key outside any lock (a KMS call may take seconds), then
   * runs `commit` in a transaction holding the merchant's chain lock, only if that key is
   * still the active one: a rotation or revocation meanwhile makes it sign again with the new
   * key. So what is committed was signed by a key valid when it was signed (checkpoints,
   * export manifests), and no network call runs while the chain lock is held.
   */
  async signWithCurrentKey<S, T>(
    merchantId: string,
    sign: (signer: Signer, now: Date) => Promise<S>,
    commit: (tx: Tx, signed: S) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.refresh(merchantId);
      const signer = await this.currentSigner(merchantId);
      const signed = await sign(signer, this.clock());
      const outcome = await this.db.transaction(async (tx) => {
        await this.#lockMerchant(tx, merchantId);
        const active = await activeKeyOf(tx, merchantId);
        if (active?.kid !== signer.kid) return { stale: true as const };
        return { stale: false as const, value: await commit(tx, signed) };
      });
      if (!outcome.stale) return outcome.value;
      if (attempt >= MAX_SIGNING_ATTEMPTS)
        throw new ServiceError(
          'service_unavailable',
          `the signing key of ${merchantId} kept changing while signing; retry`,
        );
    }
  }

  /**
   * Signs a bundle's manifest (SPEC §9) with the merchant's active key, as signWithCurrentKey,
   * and keeps the signature only if the bundle as built lets a verifier assert it: the key
   * was already active at the manifest's createdAt, and the newest key snapshot the bundle
   * carries publishes it (`published`, publishedKidsIn). A key change of this merchant while
   * the bundle was built throws {@link KeyHistoryChanged}: build it again. Other merchants'
   * key changes do not matter.
   */
  signManifest(
    merchantId: string,
    createdAt: string,
    published: ReadonlySet<string>,
    sign: (signer: Signer) => Promise<string>,
  ): Promise<string> {
    return this.signWithCurrentKey(merchantId, sign, async (tx, jws) => {
      const active = await activeKeyOf(tx, merchantId);
      if (!active || active.nbf.getTime() > Date.parse(createdAt) || !published.has(active.kid))
        throw new KeyHistoryChanged(merchantId);
      return jws;
    });
  }

  /**
   * Makes sure the key snapshot of `now`'s period is published: whatever is signed then (an
   * export's manifest) names a key a verifier can look up in that month's snapshot.
   */
  ensureSnapshot(now: Date): Promise<void> {
    return this.snapshots.ensure(this.db, now);
  }

  /** Public keys that verify receipts now: active and retired, not revoked (SPEC §5 JWKS). */
  async verifyingKeys() {
    const rows = await this.db
      .select({ x: signingKeys.x, kid: signingKeys.kid })
      .from(signingKeys)
      .where(ne(signingKeys.status, 'revoked'))
      .orderBy(signingKeys.merchantId, signingKeys.nbf);
    return rows.map((r) => ({
      kty: 'OKP' as const,
      crv: 'Ed25519' as const,
      x: r.x,
      kid: r.kid,
      alg: 'EdDSA' as const,
      use: 'sig' as const,
    }));
  }

  /** The signer of the merchant's active key (cached briefly; appends re-check validity). */
  async currentSigner(merchantId: string): Promise<Signer> {
    let current = this.#current.get(merchantId);
    if (!current || current.expires <= Date.now()) {
      const row = await activeKeyOf(this.db, merchantId);
      if (!row)
        throw new ServiceError(
          'service_unavailable',
          `merchant ${merchantId} has no active signing key`,
        );
      current = { kid: row.kid, nbf: row.nbf.getTime(), expires: Date.now() + CURRENT_KEY_TTL_MS };
      this.#current.set(merchantId, current);
    }
    // A key made by a process whose clock runs ahead of this one's: what this process signs
    // before its clock reaches the key's nbf would be refused at the append (key_invalid) on
    // every attempt, so it waits for it, a little.
    const ahead = current.nbf - this.clock().getTime();
    if (ahead > 0 && ahead <= MAX_CLOCK_SKEW_MS)
      await new Promise((resolve) => setTimeout(resolve, ahead + 1));
    return this.signerFor(current.kid);
  }

  /** Forgets the cached current key, e.g. after an append found it no longer valid. */
  refresh(merchantId: string): void {
    this.#current.delete(merchantId);
  }

  signerFor(kid: string): Promise<Signer> {
    const cached = this.#signers.get(kid);
    if (cached) return cached;
    return this.#cache(
      kid,
      this.db
        .select({ kid: signingKeys.kid, keyRef: signingKeys.keyRef })
        .from(signingKeys)
        .where(eq(signingKeys.kid, kid))
        .then(([row]) => {
          if (!row) throw new Error(`no signing key ${kid}`);
          return this.factory.load(row.kid, row.keyRef);
        }),
    );
  }

  /** The signer of a key row already read (inside a transaction: no query of its own). */
  #signerOf(row: { kid: string; keyRef: string }): Promise<Signer> {
    return (
      this.#signers.get(row.kid) ?? this.#cache(row.kid, this.factory.load(row.kid, row.keyRef))
    );
  }

  /**
   * SPEC §6: before a key of the merchant changes, a checkpoint of the chain head signed by
   * the key about to be replaced, in the change's transaction (the head cannot move), so every
   * receipt of that key is covered by a root it signed. Its time is read before the change's.
   * This is the one signature made under the chain lock besides the snapshot's; KMS calls are
   * bounded by the client's deadline, shorter than the lock timeout.
   */
  async #checkpointBeforeChange(tx: Tx, merchantId: string): Promise<void> {
    const head = await headWithRoot(tx, merchantId);
    if (head.seq === 0 || head.seq === head.lastCheckpointSeq) return;
    const active = await activeKeyOf(tx, merchantId);
    if (!active) return;
    const row = await signCheckpoint(head, await this.#signerOf(active), this.clock());
    await tx.insert(checkpoints).values(row).onConflictDoNothing();
  }

  #cache(kid: string, signer: Promise<Signer>): Promise<Signer> {
    signer.catch(() => this.#signers.delete(kid));
    this.#signers.set(kid, signer);
    return signer;
  }

  /**
   * The current time, read after the clock moved past the millisecond the lock was taken in:
   * createdAt has millisecond precision, and a receipt of that same millisecond must stay
   * before the new key window, not at its edge.
   */
  async #timeUnderLock(): Promise<Date> {
    await new Promise((resolve) => setTimeout(resolve, 2));
    return this.clock();
  }

  async #lockMerchant(tx: Tx, merchantId: string) {
    const [head] = await tx
      .select({ seq: chainHeads.seq })
      .from(chainHeads)
      .where(eq(chainHeads.merchantId, merchantId))
      .for('update');
    if (!head) throw new ServiceError('not_found', `no merchant ${merchantId}`);
  }

  async #prepareReplacement(merchantId: string, now: Date) {
    const kid = await this.#nextKid(merchantId, now);
    const { signer, keyRef } = await this.factory.create(kid);
    return { kid, keyRef, signer, x: (await signer.publicJwk()).x };
  }

  /** `<merchant>-<YYYY>Q<n>`, or `-<k>` after it for the quarter's k-th key (kidFor). */
  async #nextKid(merchantId: string, now: Date): Promise<string> {
    await assertMerchantExists(this.db, merchantId);
    const base = kidFor(merchantId, now);
    const taken = new Set(
      (
        await this.db
          .select({ kid: signingKeys.kid })
          .from(signingKeys)
          .where(and(eq(signingKeys.merchantId, merchantId), like(signingKeys.kid, `${base}%`)))
      ).map((r) => r.kid),
    );
    for (let extra = 0; ; extra++) {
      const kid = kidFor(merchantId, now, extra);
      if (!taken.has(kid)) return kid;
    }
  }

  #revocationStatement(claims: {
    kid: string;
    revokedAt: string;
    reason: string;
  }): Promise<string> {
    return signCompact(claims, JWS_TYPES.revocation, this.publisher);
  }

  #row(
    merchantId: string,
    kid: string,
    keyRef: string,
    x: string,
    now: Date,
  ): typeof signingKeys.$inferInsert {
    return {
      kid,
      merchantId,
      backend: this.factory.backend,
      keyRef,
      x,
      nbf: now,
      exp: null,
      status: 'active',
    };
  }
}

/** The merchant's active key, read through `db` (a transaction's handle inside one). */
async function activeKeyOf(db: Db | Tx, merchantId: string) {
  const [row] = await db
    .select({ kid: signingKeys.kid, keyRef: signingKeys.keyRef, nbf: signingKeys.nbf })
    .from(signingKeys)
    .where(and(eq(signingKeys.merchantId, merchantId), eq(signingKeys.status, 'active')))
    .limit(1);
  return row;
}

/** A revocation found its key changed under the lock: it reads the key again (revoke). */
class KeyStatusChanged extends Error {}

async function kidTaken(tx: Tx, kid: string): Promise<boolean> {
  const [taken] = await tx
    .select({ kid: signingKeys.kid })
    .from(signingKeys)
    .where(eq(signingKeys.kid, kid))
    .limit(1);
  return taken !== undefined;
}

/**
 * Under the merchant's lock: a kid chosen before the lock (its key is made outside it, as a
 * KMS call may take seconds) that a concurrent rotation or revocation took meanwhile.
 */
async function assertKidFree(tx: Tx, kid: string): Promise<void> {
  if (await kidTaken(tx, kid))
    throw new ServiceError(
      'signing_keys_changed',
      `the merchant's signing keys changed while ${kid} was being made; retry`,
    );
}

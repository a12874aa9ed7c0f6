import { newId, periodOf } from '@quittance/format';
import { type BodyKind, bodyAad, open, type Sealed, seal } from './aes-gcm';
import { VaultError } from './errors';
import type { KeyWrapper, WrapContext } from './key-wrapper';

/** A stored data key; `wrapped` is null once destroyed (crypto-shredding). */
export interface StoredDataKey {
  id: string;
  merchantId: string;
  month: string;
  wrapper: string;
  wrapped: Uint8Array | null;
}

/** Where wrapped data keys live (the database); the vault itself does no I/O but through it. */
export interface DataKeyStore {
  findByMonth(merchantId: string, month: string): Promise<StoredDataKey | undefined>;
  findById(id: string): Promise<StoredDataKey | undefined>;
  /** Inserts unless the month already has a key; returns the key that is now stored. */
  insertIfAbsent(key: StoredDataKey): Promise<StoredDataKey>;
}

export interface VaultOptions {
  wrapper: KeyWrapper;
  store: DataKeyStore;
  /** How long an unwrapped data key stays in memory. Bounds how long a destroyed key lingers. */
  cacheTtlMs?: number;
  maxCachedKeys?: number;
  now?: () => number;
}

interface CachedKey {
  id: string;
  key: Uint8Array;
  expires: number;
}

export interface SealedBody extends Sealed {
  vaultKeyId: string;
}

/**
 * Encrypts bodies under one data key per merchant and month (SPEC §7), so that retention
 * can destroy a month at once. Unwrapped keys are cached for a bounded time.
 */
export class Vault {
  readonly #wrapper: KeyWrapper;
  readonly #store: DataKeyStore;
  readonly #ttl: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #byMonth = new Map<string, CachedKey>();
  readonly #byId = new Map<string, CachedKey>();
  readonly #loading = new Map<string, Promise<CachedKey>>();

  constructor(options: VaultOptions) {
    this.#wrapper = options.wrapper;
    this.#store = options.store;
    this.#ttl = options.cacheTtlMs ?? 5 * 60_000;
    this.#max = options.maxCachedKeys ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  async encrypt(input: {
    merchantId: string;
    receiptId: string;
    kind: BodyKind;
    plaintext: Uint8Array;
    at: Date;
  }): Promise<SealedBody> {
    const month = periodOf(input.at);
    const dataKey = await this.#monthKey(input.merchantId, month);
    const sealed = seal(
      dataKey.key,
      input.plaintext,
      bodyAad(input.merchantId, input.receiptId, input.kind),
    );
    return { ...sealed, vaultKeyId: dataKey.id };
  }

  async decrypt(
    input: { merchantId: string; receiptId: string; kind: BodyKind } & SealedBody,
  ): Promise<Uint8Array> {
    const dataKey = await this.#keyById(input.vaultKeyId, input.merchantId);
    return open(dataKey.key, input, bodyAad(input.merchantId, input.receiptId, input.kind));
  }

  /** Drops cached keys of a merchant's month, e.g. right after retention destroyed it. */
  forget(merchantId: string, month: string): void {
    const cached = this.#byMonth.get(`${merchantId}/${month}`);
    this.#byMonth.delete(`${merchantId}/${month}`);
    if (cached) this.#byId.delete(cached.id);
  }

  #fresh(entry: CachedKey | undefined): CachedKey | undefined {
    return entry && entry.expires > this.#now() ? entry : undefined;
  }

  #remember(slot: string, entry: CachedKey): CachedKey {
    if (this.#byId.size >= this.#max) {
      const oldest = this.#byId.keys().next().value as string;
      this.#byId.delete(oldest);
      for (const [month, cached] of this.#byMonth)
        if (cached.id === oldest) this.#byMonth.delete(month);
    }
    this.#byMonth.set(slot, entry);
    this.#byId.set(entry.id, entry);
    return entry;
  }

  /** One load per slot at a time, however many requests miss the cache together. */
  #once(slot: string, load: () => Promise<CachedKey>): Promise<CachedKey> {
    let pending = this.#loading.get(slot);
    if (!pending) {
      pending = load().finally(() => this.#loading.delete(slot));
      this.#loading.set(slot, pending);
    }
    return pending;
  }

  #monthKey(merchantId: string, month: string): Promise<CachedKey> {
    const slot = `${merchantId}/${month}`;
    const cached = this.#fresh(this.#byMonth.get(slot));
    if (cached) return Promise.resolve(cached);
    return this.#once(slot, async () => {
      let stored = await this.#store.findByMonth(merchantId, month);
      if (!stored) {
        const { plaintext, wrapped } = await this.#wrapper.generateDataKey(
          context(merchantId, month),
        );
        stored = await this.#store.insertIfAbsent({
          id: newId('vk'),
          merchantId,
          month,
          wrapper: this.#wrapper.name,
          wrapped,
        });
        // Another process may have stored its key first: use whichever the database kept.
        if (stored.wrapped && equalBytes(stored.wrapped, wrapped)) {
          return this.#remember(slot, {
            id: stored.id,
            key: plaintext,
            expires: this.#now() + this.#ttl,
          });
        }
      }
      return this.#remember(slot, await this.#unwrap(stored));
    });
  }

  #keyById(id: string, merchantId: string): Promise<CachedKey> {
    const cached = this.#fresh(this.#byId.get(id));
    if (cached) return Promise.resolve(cached);
    return this.#once(`id:${id}`, async () => {
      const stored = await this.#store.findById(id);
      if (!stored || stored.merchantId !== merchantId) {
        throw new VaultError('decrypt_failed', `data key ${id} does not belong to ${merchantId}`);
      }
      return this.#remember(`${stored.merchantId}/${stored.month}`, await this.#unwrap(stored));
    });
  }

  async #unwrap(stored: StoredDataKey): Promise<CachedKey> {
    if (!stored.wrapped) {
      throw new VaultError(
        'key_destroyed',
        `data key of ${stored.merchantId} for ${stored.month} was destroyed`,
      );
    }
    if (stored.wrapper !== this.#wrapper.name) {
      throw new VaultError(
        'unwrap_failed',
        `data key ${stored.id} is wrapped by ${stored.wrapper}, not ${this.#wrapper.name}`,
      );
    }
    const key = await this.#wrapper.unwrap(
      stored.wrapped,
      context(stored.merchantId, stored.month),
    );
    return { id: stored.id, key, expires: this.#now() + this.#ttl };
  }
}

function context(merchantId: string, month: string): WrapContext {
  return { purpose: 'quittance-vault', merchantId, month };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { apiKeys, type Db } from '@quittance/db';
import { base64url, ulid } from '@quittance/format';
import { and, eq, isNull } from 'drizzle-orm';
import { assertMerchantExists } from '../merchants/merchants';
import { ServiceError } from '../service-error';

export const ROLES = ['merchant', 'agent', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: one merchant, one role, and for agents one agentId. */
export interface Principal {
  merchantId: string;
  role: Role;
  agentId: string | null;
  keyPrefix: string;
}

/** `qtk_<16 base32>`: the public, indexed part of a key. */
const KEY_PATTERN = /^(qtk_[0-9A-HJKMNP-TV-Z]{16})_([A-Za-z0-9_-]{43})$/;
/** How long a process trusts a looked-up key; bounds how late a revocation takes effect elsewhere. */
const CACHE_TTL_MS = 5_000;

function sha256(text: string): Buffer {
  return hash('sha256', text, 'buffer');
}

/**
 * API keys: 256 random bits shown once, stored only as SHA-256 (a fast hash suffices for
 * keys this long), looked up by their prefix, compared in constant time.
 */
export class ApiKeyService {
  readonly #cache = new Map<
    string,
    { principal: Principal | null; hash: Buffer; expires: number }
  >();

  constructor(private readonly db: Db) {}

  async create(merchantId: string, role: Role, agentId?: string) {
    await assertMerchantExists(this.db, merchantId);
    const prefix = `qtk_${ulid().slice(10)}`;
    const apiKey = `${prefix}_${base64url(randomBytes(32))}`;
    await this.db.insert(apiKeys).values({
      prefix,
      keyHash: sha256(apiKey).toString('hex'),
      merchantId,
      role,
      agentId: role === 'agent' ? (agentId ?? null) : null,
    });
    return { apiKey, prefix, role, ...(role === 'agent' ? { agentId } : {}) };
  }

  async revoke(prefix: string): Promise<void> {
    const updated = await this.db
      .update(apiKeys)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiKeys.prefix, prefix), isNull(apiKeys.revokedAt)))
      .returning({ prefix: apiKeys.prefix });
    this.#cache.delete(prefix);
    if (updated.length === 0) throw new ServiceError('not_found', `no active API key ${prefix}`);
  }

  /** The principal of a presented key, or null when it is unknown, garbled or revoked. */
  async authenticate(presented: string): Promise<Principal | null> {
    const match = KEY_PATTERN.exec(presented);
    if (!match) return null;
    const prefix = match[1] as string;
    const now = Date.now();
    let entry = this.#cache.get(prefix);
    if (!entry || entry.expires <= now) {
      const [row] = await this.db.select().from(apiKeys).where(eq(apiKeys.prefix, prefix));
      entry = {
        principal:
          row && !row.revokedAt
            ? {
                merchantId: row.merchantId,
                role: row.role as Role,
                agentId: row.agentId,
                keyPrefix: prefix,
              }
            : null,
        hash: row ? Buffer.from(row.keyHash, 'hex') : Buffer.alloc(32),
        expires: now + CACHE_TTL_MS,
      };
      if (this.#cache.size > 10_000) this.#cache.clear();
      this.#cache.set(prefix, entry);
    }
    const equal = timingSafeEqual(sha256(presented), entry.hash);
    return equal ? entry.principal : null;
  }
}

/** Constant-time comparison of the admin bearer token. */
export function isAdminToken(presented: string, expected: string): boolean {
  return timingSafeEqual(sha256(presented), sha256(expected));
}

import { setImmediate as nextTurn } from 'node:timers/promises';
import type { SourceBodies } from '@quittance/bundle';
import { type Db, receiptBodies, vaultKeys } from '@quittance/db';
import { fromUtf8 } from '@quittance/format';
import { type Vault, VaultError } from '@quittance/vault';
import { eq, inArray, sql } from 'drizzle-orm';
import type { Principal } from '../auth/api-keys';
import type { ReceiptQueries } from '../chain/queries';
import { ServiceError } from '../service-error';

export type OpenedBodies = { input: unknown; output: unknown } | 'destroyed' | 'none';

/**
 * Decrypts a receipt's input and output from the vault; 'destroyed' once retention shredded
 * the month's data key, 'none' for a receipt issued with hashes only.
 */
export async function openBodies(
  db: Db,
  vault: Vault,
  merchantId: string,
  receiptId: string,
): Promise<OpenedBodies> {
  return openSealed(vault, merchantId, receiptId, await sealedBodies(db, [receiptId]));
}

/**
 * The bodies of many receipts as bundles carry them (SPEC §9: null when there are none, or
 * none any more), in their order, read `perQuery` receipts a query: memory stays bounded
 * (a body may be 1 MiB), and the event loop is served between queries (an embedded
 * database runs each one on it).
 */
export async function* bundleBodies(
  db: Db,
  vault: Vault,
  merchantId: string,
  receiptIds: readonly string[],
  perQuery: number,
): AsyncGenerator<SourceBodies> {
  for (let at = 0; at < receiptIds.length; at += perQuery) {
    if (at > 0) await nextTurn();
    const ids = receiptIds.slice(at, at + perQuery);
    const sealed = new Map<string, SealedBody[]>();
    for (const row of await sealedBodies(db, ids)) {
      const rows = sealed.get(row.receiptId);
      if (rows) rows.push(row);
      else sealed.set(row.receiptId, [row]);
    }
    for (const receiptId of ids) {
      const opened = await openSealed(vault, merchantId, receiptId, sealed.get(receiptId) ?? []);
      yield { receiptId, bodies: typeof opened === 'string' ? null : opened };
    }
  }
}

/** The bytes the sealed bodies of these receipts take (ciphertext), read in one query. */
export async function sealedBytesOf(db: Db, receiptIds: readonly string[]): Promise<number> {
  if (receiptIds.length === 0) return 0;
  const [row] = await db
    .select({
      bytes: sql<string>`coalesce(sum(octet_length(${receiptBodies.ciphertext})), 0)::text`,
    })
    .from(receiptBodies)
    .where(inArray(receiptBodies.receiptId, [...receiptIds]));
  return Number(row?.bytes ?? 0);
}

type SealedBody = Awaited<ReturnType<typeof sealedBodies>>[number];

function sealedBodies(db: Db, receiptIds: readonly string[]) {
  return db
    .select({
      receiptId: receiptBodies.receiptId,
      kind: receiptBodies.kind,
      vaultKeyId: receiptBodies.vaultKeyId,
      iv: receiptBodies.iv,
      ciphertext: receiptBodies.ciphertext,
      destroyedAt: vaultKeys.destroyedAt,
    })
    .from(receiptBodies)
    .innerJoin(vaultKeys, eq(vaultKeys.id, receiptBodies.vaultKeyId))
    .where(inArray(receiptBodies.receiptId, [...receiptIds]));
}

async function openSealed(
  vault: Vault,
  merchantId: string,
  receiptId: string,
  sealed: readonly SealedBody[],
): Promise<OpenedBodies> {
  if (sealed.length === 0) return 'none';
  const out: Record<string, unknown> = {};
  for (const { destroyedAt, receiptId: _, ...body } of sealed) {
    if (destroyedAt) return 'destroyed';
    try {
      const plaintext = await vault.decrypt({
        ...body,
        merchantId,
        receiptId,
        kind: body.kind as 'input' | 'output',
      });
      out[body.kind] = JSON.parse(fromUtf8(plaintext));
    } catch (error) {
      // Another process may have shredded the key after this one cached the row.
      if (error instanceof VaultError && error.code === 'key_destroyed') return 'destroyed';
      throw error;
    }
  }
  return { input: out.input, output: out.output };
}

/** The bodies of one receipt as a key may read them (SPEC §7, §8). */
export class BodyReader {
  constructor(private readonly deps: { db: Db; vault: Vault; receipts: ReceiptQueries }) {}

  /** Decrypted bodies; 404 when not visible, 410 once retention destroyed the month's key. */
  async read(principal: Principal, id: string) {
    // Visibility first: a receipt the key may not see is 404, never 403 (SPEC §8); an agent
    // key is refused only the bodies of its own receipts.
    const record = await this.deps.receipts.record(principal, id);
    if (principal.role === 'agent')
      throw new ServiceError('forbidden', 'agent keys may not read bodies');
    if (!record.hasBodies)
      throw new ServiceError('not_found', `receipt ${id} was issued with hashes only`);
    const bodies = await openBodies(this.deps.db, this.deps.vault, record.merchantId, id);
    if (bodies === 'destroyed')
      throw new ServiceError(
        'bodies_destroyed',
        `the bodies of ${id} were destroyed at the end of retention`,
      );
    if (bodies === 'none')
      throw new ServiceError('not_found', `receipt ${id} has no stored bodies`);
    return { id, ...bodies };
  }
}

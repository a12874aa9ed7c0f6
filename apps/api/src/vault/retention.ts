import { type Db, merchants, vaultKeys } from '@quittance/db';
import { type Jurisdiction, periodOf, retentionStart } from '@quittance/format';
import type { Vault } from '@quittance/vault';
import { and, eq, isNull, lt } from 'drizzle-orm';

/**
 * Crypto-shredding (SPEC §7): destroys the vault data keys of every month that ended before
 * the merchant's retention window. Receipts, hashes, chain and timestamps stay and verify;
 * the bodies of those months become unreadable (the API answers 410).
 */
export async function destroyExpiredKeys(deps: {
  db: Db;
  vault: Vault;
  clock: () => Date;
}): Promise<{ merchantId: string; month: string }[]> {
  const now = deps.clock();
  const destroyed: { merchantId: string; month: string }[] = [];
  for (const merchant of await deps.db.select().from(merchants)) {
    // A month's key goes once all of its month is older than the window (the month before its start).
    const firstKeptMonth = periodOf(retentionStart(now, merchant.jurisdiction as Jurisdiction));
    const rows = await deps.db
      .update(vaultKeys)
      .set({ wrappedKey: null, destroyedAt: now })
      .where(
        and(
          eq(vaultKeys.merchantId, merchant.id),
          lt(vaultKeys.month, firstKeptMonth),
          isNull(vaultKeys.destroyedAt),
        ),
      )
      .returning({ month: vaultKeys.month });
    for (const { month } of rows) {
      deps.vault.forget(merchant.id, month);
      destroyed.push({ merchantId: merchant.id, month });
    }
  }
  return destroyed;
}

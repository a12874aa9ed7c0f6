import { type Jurisdiction, RETENTION } from '@quittance/bundle';
import { merchants, vaultKeys } from '@quittance/db';
import { periodOf } from '@quittance/format';
import { and, eq, isNull, lt } from 'drizzle-orm';
import { retentionStart } from '../exports/range';
import type { Services } from '../services';

/**
 * Crypto-shredding (SPEC §7): destroys the vault data keys of every month that ended before
 * the merchant's retention window. Receipts, hashes, chain and timestamps stay and verify;
 * the bodies of those months become unreadable (the API answers 410).
 */
export async function destroyExpiredKeys(
  services: Services,
): Promise<{ merchantId: string; month: string }[]> {
  const now = services.clock();
  const destroyed: { merchantId: string; month: string }[] = [];
  for (const merchant of await services.db.select().from(merchants)) {
    const years = RETENTION[merchant.jurisdiction as Jurisdiction].years;
    // A month's key goes once all of its month is older than the window (the month before its start).
    const firstKeptMonth = periodOf(retentionStart(now, years));
    const rows = await services.db
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
      services.vault.forget(merchant.id, month);
      destroyed.push({ merchantId: merchant.id, month });
    }
  }
  return destroyed;
}

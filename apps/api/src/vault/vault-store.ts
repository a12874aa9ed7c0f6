import { type Db, vaultKeys } from '@quittance/db';
import type { DataKeyStore, StoredDataKey } from '@quittance/vault';
import { and, eq } from 'drizzle-orm';

type Row = typeof vaultKeys.$inferSelect;

function toStored(row: Row): StoredDataKey {
  return {
    id: row.id,
    merchantId: row.merchantId,
    month: row.month,
    wrapper: row.wrapper,
    wrapped: row.wrappedKey,
  };
}

/** Vault data keys in PostgreSQL; a unique (merchant, month) index settles races. */
export function databaseKeyStore(db: Db): DataKeyStore {
  return {
    async findByMonth(merchantId, month) {
      const [row] = await db
        .select()
        .from(vaultKeys)
        .where(and(eq(vaultKeys.merchantId, merchantId), eq(vaultKeys.month, month)));
      return row && toStored(row);
    },
    async findById(id) {
      const [row] = await db.select().from(vaultKeys).where(eq(vaultKeys.id, id));
      return row && toStored(row);
    },
    async insertIfAbsent(key) {
      await db
        .insert(vaultKeys)
        .values({
          id: key.id,
          merchantId: key.merchantId,
          month: key.month,
          wrapper: key.wrapper,
          wrappedKey: key.wrapped,
        })
        .onConflictDoNothing();
      const stored = await this.findByMonth(key.merchantId, key.month);
      if (!stored) throw new Error(`vault key for ${key.merchantId} ${key.month} vanished`);
      return stored;
    },
  };
}

import type { BundleStore } from '@quittance/bundle-store';
import { type Db, exports as exportsTable } from '@quittance/db';
import { JURISDICTIONS, retentionStart } from '@quittance/format';
import { and, eq, isNotNull, lt } from 'drizzle-orm';

/** Bundles deleted per query; the loop goes on until none is left. */
const BATCH = 500;

/**
 * Deletes the bundles whose jurisdiction's retention (SPEC §9) has run out since they were
 * built, as the bucket's lifecycle rules do (a backstop that counts from the same moment),
 * and forgets their key: the export stays listed, its download answers 404. The object goes
 * first, so a crash in between only deletes it again on the next run.
 */
export async function deleteExpiredBundles(deps: {
  db: Db;
  bundles: BundleStore;
  clock: () => Date;
}): Promise<{ exportId: string; jurisdiction: string }[]> {
  const { db, bundles } = deps;
  const now = deps.clock();
  const deleted: { exportId: string; jurisdiction: string }[] = [];
  for (const jurisdiction of JURISDICTIONS) {
    const builtBefore = retentionStart(now, jurisdiction);
    for (;;) {
      const expired = await db
        .select({ id: exportsTable.id, bundleKey: exportsTable.bundleKey })
        .from(exportsTable)
        .where(
          and(
            eq(exportsTable.jurisdiction, jurisdiction),
            isNotNull(exportsTable.bundleKey),
            lt(exportsTable.finishedAt, builtBefore),
          ),
        )
        .limit(BATCH);
      for (const { id, bundleKey } of expired) {
        await bundles.delete(bundleKey as string);
        await db
          .update(exportsTable)
          .set({ bundleKey: null })
          .where(and(eq(exportsTable.id, id), eq(exportsTable.bundleKey, bundleKey as string)));
        deleted.push({ exportId: id, jurisdiction });
      }
      if (expired.length < BATCH) break;
    }
  }
  return deleted;
}

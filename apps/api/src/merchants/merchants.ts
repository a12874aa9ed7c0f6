import { type Db, merchants } from '@quittance/db';
import type { Jurisdiction } from '@quittance/format';
import { eq } from 'drizzle-orm';
import { ServiceError } from '../service-error';

/** Whether a merchant with this id exists. */
export async function merchantExists(db: Db, merchantId: string): Promise<boolean> {
  const [merchant] = await db
    .select({ id: merchants.id })
    .from(merchants)
    .where(eq(merchants.id, merchantId));
  return merchant !== undefined;
}

/** The merchant's jurisdiction (SPEC §9: what its bundles state with their retention). */
export async function merchantJurisdiction(db: Db, merchantId: string): Promise<Jurisdiction> {
  const [merchant] = await db
    .select({ jurisdiction: merchants.jurisdiction })
    .from(merchants)
    .where(eq(merchants.id, merchantId));
  if (!merchant) throw new ServiceError('not_found', `no merchant ${merchantId}`);
  return merchant.jurisdiction as Jurisdiction;
}

/** Throws `not_found` unless the merchant exists (admin actions on one merchant). */
export async function assertMerchantExists(db: Db, merchantId: string): Promise<void> {
  if (!(await merchantExists(db, merchantId)))
    throw new ServiceError('not_found', `no merchant ${merchantId}`);
}

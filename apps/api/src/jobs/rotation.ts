import { signingKeys } from '@quittance/db';
import { eq } from 'drizzle-orm';
import type { Services } from '../services';

const quarterOf = (d: Date) => `${d.getUTCFullYear()}Q${Math.floor(d.getUTCMonth() / 3) + 1}`;

/** Quarterly rotation: every merchant whose active key began in an earlier quarter gets a new one. */
export async function rotateDueKeys(services: Services): Promise<string[]> {
  const now = services.clock();
  const active = await services.db
    .select({ merchantId: signingKeys.merchantId, nbf: signingKeys.nbf })
    .from(signingKeys)
    .where(eq(signingKeys.status, 'active'));
  const rotated: string[] = [];
  for (const key of active) {
    if (quarterOf(key.nbf) === quarterOf(now)) continue;
    rotated.push((await services.keyRing.rotate(key.merchantId)).kid);
  }
  return rotated;
}

import { type Db, signingKeys } from '@quittance/db';
import { eq } from 'drizzle-orm';
import type { KeyRing } from './key-ring';

const quarterOf = (d: Date) => `${d.getUTCFullYear()}Q${Math.floor(d.getUTCMonth() / 3) + 1}`;

/** Quarterly rotation: every merchant whose active key began in an earlier quarter gets a new one. */
export async function rotateDueKeys(deps: {
  db: Db;
  keyRing: KeyRing;
  clock: () => Date;
}): Promise<string[]> {
  const now = deps.clock();
  const active = await deps.db
    .select({ merchantId: signingKeys.merchantId, nbf: signingKeys.nbf })
    .from(signingKeys)
    .where(eq(signingKeys.status, 'active'));
  const rotated: string[] = [];
  for (const key of active) {
    if (quarterOf(key.nbf) === quarterOf(now)) continue;
    rotated.push((await deps.keyRing.rotate(key.merchantId)).kid);
  }
  return rotated;
}

import { join } from 'node:path';
import { LocalSigner } from '@quittance/signer';
import type { Services } from '../services';

/**
 * A key file's temporary (`.tmp`) not written to for this long belongs to a process that was
 * killed between writing it and putting it in place; it may hold a private key. Bundle
 * writes are judged by their store (BundleStore.abandonedAfterMs).
 */
export const IDLE_FILE_AGE_MS = 10 * 60_000;

/** Removes what killed processes left half written: bundle writes and key file temporaries. */
export async function removeUnfinishedWrites(
  services: Pick<Services, 'bundles' | 'clock' | 'config'>,
): Promise<{ bundles: number; keyFiles: number }> {
  const now = services.clock().getTime();
  const bundles = await services.bundles.sweepIncomplete(
    new Date(now - services.bundles.abandonedAfterMs),
  );
  const keyFiles = await LocalSigner.sweepTemporaries(
    join(services.config.dataDir, 'keys'),
    new Date(now - IDLE_FILE_AGE_MS),
  );
  return { bundles, keyFiles };
}

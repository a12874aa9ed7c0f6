import { join } from 'node:path';
import { LocalSigner } from '@quittance/signer';
import type { Services } from '../services';

/**
 * An S3 multipart upload begun longer ago than this was left by a builder that died (a build
 * renews its lease and finishes in minutes, but an upload's age is its start, not its last
 * part): it is aborted.
 */
const INCOMPLETE_UPLOAD_AGE_MS = 24 * 3600_000;
/**
 * A temporary file not written to for this long (a bundle's `.partial`, a key file's `.tmp`)
 * belongs to a process that was killed: a live build writes as it goes and renews its lease
 * every 20 s. Each may hold megabytes, or a private key.
 */
export const IDLE_FILE_AGE_MS = 10 * 60_000;

/** Removes what killed processes left half written: bundle writes and key file temporaries. */
export async function removeUnfinishedWrites(
  services: Pick<Services, 'bundles' | 'clock' | 'config'>,
): Promise<{ bundles: number; keyFiles: number }> {
  const now = services.clock().getTime();
  const local = services.bundles.location.startsWith('file:');
  const bundles = await services.bundles.sweepIncomplete(
    new Date(now - (local ? IDLE_FILE_AGE_MS : INCOMPLETE_UPLOAD_AGE_MS)),
  );
  const keyFiles = await LocalSigner.sweepTemporaries(
    join(services.config.dataDir, 'keys'),
    new Date(now - IDLE_FILE_AGE_MS),
  );
  return { bundles, keyFiles };
}

/**
 * - `unreadable`: the bundle is not a zip this verifier can read (missing, a directory, not a
 *   zip, truncated, a corrupt central directory or compressed stream).
 * - `too_large`: the zip declares or inflates more than the caps of {@link BundleLimits}
 *   (a zip bomb, or an export beyond what the caps allow).
 */
export type BundleErrorCode = 'unreadable' | 'too_large';

/**
 * The bundle cannot be read at all (SPEC §10: exit status 2). Content that is read but
 * wrong is never an error: it refutes the claim it is evidence for.
 */
export class BundleError extends Error {
  override readonly name = 'BundleError';

  constructor(
    readonly code: BundleErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

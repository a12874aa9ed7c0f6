import { sha256 } from '#sha256';
import { asciiBytes } from './encoding';

// RFC 3161 timestamps of receipts and checkpoints (SPEC §4, §6).

/** How far genTime may precede createdAt: a token older than that cannot be for this receipt. */
export const GEN_TIME_GRACE_MS = 5 * 60_000;

/**
 * The messageImprint of a document's timestamp: SHA-256 of the ASCII bytes of the base64url
 * signature segment of its `jws` (the JAdES sigTst convention).
 */
export function timestampImprint(jws: string): Promise<Uint8Array> {
  return sha256(asciiBytes(jws.slice(jws.lastIndexOf('.') + 1)));
}

/** The earliest genTime a timestamp of a document created at `createdAt` may carry. */
export function earliestGenTime(createdAt: string | Date): Date {
  const ms = typeof createdAt === 'string' ? Date.parse(createdAt) : createdAt.getTime();
  return new Date(ms - GEN_TIME_GRACE_MS);
}

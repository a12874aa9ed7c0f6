import { checkpoints, pendingTimestamps, receipts } from '@quittance/db';
import { asciiBytes, type ReceiptTimestamp } from '@quittance/format';
import { backoffMs, PermanentJobError } from '@quittance/jobs';
import { TspError } from '@quittance/tsp';
import { and, eq, isNull, lt, or, sql } from 'drizzle-orm';
import type { Services } from '../services';
import type { Timestamper } from './timestamper';

/** A worker's hold on one piece of timestamp work, longer than a TSA request can take. */
const LEASE = sql`now() + interval '60 seconds'`;
/** SPEC §4: genTime not earlier than createdAt minus 5 minutes. */
const EARLIEST_GEN_TIME_MS = 5 * 60_000;
/** Tolerated TSA clock lead. */
const LATEST_GEN_TIME_MS = 5 * 60_000;

/** SHA-256 of the ASCII base64url signature segment of a detached JWS (JAdES sigTst). */
export async function signatureImprint(jws: string): Promise<Uint8Array> {
  const signature = jws.slice(jws.lastIndexOf('.') + 1);
  return new Uint8Array(
    await globalThis.crypto.subtle.digest(
      'SHA-256',
      asciiBytes(signature) as Uint8Array<ArrayBuffer>,
    ),
  );
}

export type TimestampOutcome = 'attached' | 'skipped' | 'failed';

/**
 * Timestamps one receipt: lease it, ask the TSA, verify, attach, then forget the pending
 * mark, all or nothing. A failure leaves the receipt `signed` and schedules the next
 * attempt in PostgreSQL with capped exponential backoff, so even a queue that lost the job
 * finds it again.
 */
export async function timestampReceipt(
  services: Services,
  timestamper: Timestamper,
  receiptId: string,
): Promise<TimestampOutcome> {
  const { db } = services;
  const [lease] = await db
    .update(pendingTimestamps)
    .set({ leasedUntil: LEASE, attempts: sql`${pendingTimestamps.attempts} + 1` })
    .where(
      and(
        eq(pendingTimestamps.receiptId, receiptId),
        or(isNull(pendingTimestamps.leasedUntil), lt(pendingTimestamps.leasedUntil, sql`now()`)),
      ),
    )
    .returning({ attempts: pendingTimestamps.attempts });
  if (!lease) return 'skipped'; // done already, or another worker holds it
  const [receipt] = await db
    .select({ jws: receipts.jws, createdAt: receipts.createdAt, timestamp: receipts.timestamp })
    .from(receipts)
    .where(eq(receipts.id, receiptId));
  if (!receipt || receipt.timestamp) {
    await db.delete(pendingTimestamps).where(eq(pendingTimestamps.receiptId, receiptId));
    return 'skipped';
  }
  let evidence: ReceiptTimestamp;
  try {
    evidence = await timestamper.stamp(
      await signatureImprint(receipt.jws),
      window(receipt.createdAt, services.clock()),
    );
  } catch (error) {
    const failure = failedAttempt(services, lease.attempts, error);
    await db
      .update(pendingTimestamps)
      .set(failure.columns)
      .where(eq(pendingTimestamps.receiptId, receiptId));
    throw failure.error;
  }
  services.metrics.timestampsAttached.inc({ subject: 'receipt' });
  await db.transaction(async (tx) => {
    await tx
      .update(receipts)
      .set({ timestamp: evidence, legalPosture: 'ades_candidate_timestamped' })
      .where(and(eq(receipts.id, receiptId), isNull(receipts.timestamp)));
    await tx.delete(pendingTimestamps).where(eq(pendingTimestamps.receiptId, receiptId));
  });
  return 'attached';
}

/** The same for a checkpoint (SPEC §6: timestamped like a receipt). */
export async function timestampCheckpoint(
  services: Services,
  timestamper: Timestamper,
  merchantId: string,
  seq: number,
): Promise<TimestampOutcome> {
  const { db } = services;
  const key = and(eq(checkpoints.merchantId, merchantId), eq(checkpoints.seq, seq));
  const [lease] = await db
    .update(checkpoints)
    .set({ leasedUntil: LEASE, attempts: sql`${checkpoints.attempts} + 1` })
    .where(
      and(
        key,
        isNull(checkpoints.timestamp),
        or(isNull(checkpoints.leasedUntil), lt(checkpoints.leasedUntil, sql`now()`)),
      ),
    )
    .returning({
      attempts: checkpoints.attempts,
      jws: checkpoints.jws,
      createdAt: checkpoints.createdAt,
    });
  if (!lease) return 'skipped';
  try {
    const evidence = await timestamper.stamp(
      await signatureImprint(lease.jws),
      window(lease.createdAt, services.clock()),
    );
    await db
      .update(checkpoints)
      .set({ timestamp: evidence, leasedUntil: null, lastError: null })
      .where(key);
    services.metrics.timestampsAttached.inc({ subject: 'checkpoint' });
    return 'attached';
  } catch (error) {
    const failure = failedAttempt(services, lease.attempts, error);
    await db.update(checkpoints).set(failure.columns).where(key);
    throw failure.error;
  }
}

function window(createdAt: Date, now: Date) {
  return {
    notBefore: new Date(createdAt.getTime() - EARLIEST_GEN_TIME_MS),
    notAfter: new Date(Math.max(now.getTime(), createdAt.getTime()) + LATEST_GEN_TIME_MS),
  };
}

/**
 * What a failed attempt leaves in PostgreSQL (lease released, next attempt after a capped,
 * jittered backoff, the error kept for operators) and what the queue gets thrown.
 */
function failedAttempt(services: Services, attempts: number, error: unknown) {
  services.metrics.tsaErrors.inc({ code: (error as { code?: string }).code ?? 'error' });
  return {
    columns: {
      leasedUntil: null,
      nextAttemptAt: new Date(Date.now() + backoffMs(attempts, 1_000, services.config.retryMaxMs)),
      lastError: describe(error),
    },
    error: classify(error),
  };
}

function describe(error: unknown): string {
  const e = error as { code?: string; message?: string };
  return `${e?.code ?? 'error'}: ${e?.message ?? String(error)}`.slice(0, 500);
}

/**
 * An unreachable TSA is transient (the queue retries soon); a token that fails verification
 * is permanent for this job (retrying at once cannot help) but PostgreSQL keeps the work,
 * so the sweep tries again after the backoff, e.g. once the TSA is fixed.
 */
function classify(error: unknown): Error {
  if (error instanceof TspError && !error.retryable)
    return new PermanentJobError(`${error.code}: ${error.message}`);
  return error instanceof Error ? error : new Error(String(error));
}

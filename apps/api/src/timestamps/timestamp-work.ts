import { checkpoints, type Db, pendingTimestamps, receipts, type Tx } from '@quittance/db';
import { earliestGenTime, type ReceiptTimestamp, timestampImprint } from '@quittance/format';
import { backoffMs, PermanentJobError } from '@quittance/jobs';
import { TspError } from '@quittance/tsp/errors';
import { and, desc, eq, isNull, sql } from 'drizzle-orm';
import { leaseFor, leaseIsFree } from '../lease';
import type { Metrics } from '../metrics';
import type { Stamp, Timestamper } from './timestamper';

/** A worker's hold on one piece of timestamp work, longer than a TSA request can take. */
const LEASE_S = 60;
/** Tolerated TSA clock lead. */
const LATEST_GEN_TIME_MS = 5 * 60_000;

export type TimestampOutcome = 'attached' | 'skipped' | 'failed';

/** What timestamping needs of the service. */
export interface TimestampDeps {
  db: Db;
  clock: () => Date;
  metrics: Metrics;
  /** Upper bound of the backoff between attempts. */
  config: { retryMaxMs: number };
}

/**
 * Timestamps one receipt: lease it, ask the TSA, verify, attach, then forget the pending
 * mark, all or nothing. A failure leaves the receipt `signed` and schedules the next
 * attempt in PostgreSQL with capped exponential backoff, so even a queue that lost the job
 * finds it again.
 */
export async function timestampReceipt(
  deps: TimestampDeps,
  timestamper: Timestamper,
  receiptId: string,
): Promise<TimestampOutcome> {
  const { db } = deps;
  const [lease] = await db
    .update(pendingTimestamps)
    .set({ leasedUntil: leaseFor(LEASE_S), attempts: sql`${pendingTimestamps.attempts} + 1` })
    .where(
      and(eq(pendingTimestamps.receiptId, receiptId), leaseIsFree(pendingTimestamps.leasedUntil)),
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
    ({ evidence } = await timestamper.stamp(
      await timestampImprint(receipt.jws),
      window(receipt.createdAt, deps.clock()),
    ));
  } catch (error) {
    const failure = failedAttempt(deps, lease.attempts, error);
    await db
      .update(pendingTimestamps)
      .set(failure.columns)
      .where(eq(pendingTimestamps.receiptId, receiptId));
    throw failure.error;
  }
  deps.metrics.timestampsAttached.inc({ subject: 'receipt' });
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
  deps: TimestampDeps,
  timestamper: Timestamper,
  merchantId: string,
  seq: number,
): Promise<TimestampOutcome> {
  const { db } = deps;
  const key = and(eq(checkpoints.merchantId, merchantId), eq(checkpoints.seq, seq));
  const [lease] = await db
    .update(checkpoints)
    .set({ leasedUntil: leaseFor(LEASE_S), attempts: sql`${checkpoints.attempts} + 1` })
    .where(and(key, isNull(checkpoints.timestamp), leaseIsFree(checkpoints.leasedUntil)))
    .returning({
      attempts: checkpoints.attempts,
      jws: checkpoints.jws,
      createdAt: checkpoints.createdAt,
    });
  if (!lease) return 'skipped';
  const stamped = checkpointSigned(merchantId, seq, lease.jws);
  try {
    const { evidence } = await timestamper.stamp(
      await timestampImprint(lease.jws),
      window(lease.createdAt, deps.clock()),
    );
    // Not over a token a key revocation attached meanwhile (stampNewestCheckpoint).
    await db
      .update(checkpoints)
      .set({ timestamp: evidence, leasedUntil: null, lastError: null })
      .where(and(stamped, isNull(checkpoints.timestamp)));
    deps.metrics.timestampsAttached.inc({ subject: 'checkpoint' });
    return 'attached';
  } catch (error) {
    const failure = failedAttempt(deps, lease.attempts, error);
    await db.update(checkpoints).set(failure.columns).where(stamped);
    throw failure.error;
  }
}

/**
 * How long a key revocation waits for the TSA while it holds the merchant's chain lock, and
 * then for its clock to pass the token's genTime plus accuracy. The append statement of a
 * process locks the heads of every merchant in its batch, so all issuance of a process that
 * meets this merchant waits meanwhile: kept well under the 10 s lock timeout.
 */
const REVOCATION_TSA_TIMEOUT_MS = 3_000;
const REVOCATION_MAX_WAIT_MS = 1_500;

/**
 * SPEC §6: a revocation must never strand receipts without proof of when they existed. Before
 * a key is revoked now, the merchant's newest checkpoint (it covers every receipt so far, and
 * the revocation holds the chain lock, so none can follow) gets its RFC 3161 timestamp, in
 * the revocation's transaction, and the clock is let pass the token's genTime plus accuracy:
 * then that checkpoint proves each of those receipts existed before `revokedAt`. A TSA that
 * fails or is slow does not block the revocation (a compromised key must be revocable): the
 * checkpoint is left to the timestamp job, and what it covers stays unproven. Returns whether
 * the newest checkpoint is now timestamped before the time that follows.
 */
export async function stampNewestCheckpoint(
  tx: Tx,
  timestamper: Timestamper,
  merchantId: string,
  clock: () => Date,
): Promise<boolean> {
  const [newest] = await tx
    .select({
      seq: checkpoints.seq,
      jws: checkpoints.jws,
      createdAt: checkpoints.createdAt,
      timestamp: checkpoints.timestamp,
    })
    .from(checkpoints)
    .where(eq(checkpoints.merchantId, merchantId))
    .orderBy(desc(checkpoints.seq))
    .limit(1);
  if (!newest) return true; // no receipt to prove
  const imprint = await timestampImprint(newest.jws);
  let existedBy: Date;
  try {
    if (newest.timestamp) {
      // Attached by the job already: its accuracy counts too (the row keeps no accuracy).
      existedBy = await timestamper.existedBy(imprint, newest.timestamp as ReceiptTimestamp);
    } else {
      const stamp: Stamp = await timestamper.stamp(imprint, window(newest.createdAt, clock()), {
        timeoutMs: REVOCATION_TSA_TIMEOUT_MS,
      });
      await tx
        .update(checkpoints)
        .set({ timestamp: stamp.evidence, leasedUntil: null, lastError: null })
        .where(checkpointSigned(merchantId, newest.seq, newest.jws));
      existedBy = stamp.existedBy;
    }
  } catch {
    return false;
  }
  const wait = existedBy.getTime() + 1 - clock().getTime();
  if (wait > REVOCATION_MAX_WAIT_MS) return false;
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  return true;
}

/**
 * Checkpoint `seq` of the merchant while it carries signature `jws`: a token is written only
 * onto the signature it was requested for, since the checkpoint job may sign the checkpoint
 * again meanwhile (its key revoked as of an earlier time), which the token would not fit.
 */
const checkpointSigned = (merchantId: string, seq: number, jws: string) =>
  and(eq(checkpoints.merchantId, merchantId), eq(checkpoints.seq, seq), eq(checkpoints.jws, jws));

function window(createdAt: Date, now: Date) {
  return {
    // SPEC §4: genTime not earlier than createdAt minus the grace.
    notBefore: earliestGenTime(createdAt),
    notAfter: new Date(Math.max(now.getTime(), createdAt.getTime()) + LATEST_GEN_TIME_MS),
  };
}

/**
 * What a failed attempt leaves in PostgreSQL (lease released, next attempt after a capped,
 * jittered backoff, the error kept for operators) and what the queue gets thrown.
 */
function failedAttempt(deps: TimestampDeps, attempts: number, error: unknown) {
  deps.metrics.tsaErrors.inc({ code: (error as { code?: string }).code ?? 'error' });
  return {
    columns: {
      leasedUntil: null,
      nextAttemptAt: new Date(Date.now() + backoffMs(attempts, 1_000, deps.config.retryMaxMs)),
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

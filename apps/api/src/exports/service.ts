import type { Readable } from 'node:stream';
import { type Jurisdiction, type WriteResult, writeBundle } from '@quittance/bundle';
import {
  type BundleStore,
  type BundleWrite,
  bundleKey,
  isBundleStoreError,
} from '@quittance/bundle-store';
import { type Db, exports as exportsTable, receipts } from '@quittance/db';
import { FormatError, JWS_TYPES, newId } from '@quittance/format';
import { PermanentJobError } from '@quittance/jobs';
import { signDigest } from '@quittance/signer';
import type { Vault } from '@quittance/vault';
import { and, count, eq, gte, inArray, lte, type SQL, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Principal } from '../auth/api-keys';
import { KeyHistoryChanged, type KeyRing } from '../keys/key-ring';
import { publishedKidsIn } from '../keys/snapshots';
import { leaseFor, leaseIsFree } from '../lease';
import type { Metrics } from '../metrics';
import { ServiceError } from '../service-error';
import { type ExportParams, exportWindow } from './range';
import {
  BuildInterrupted,
  databaseSource,
  type ExportRange,
  exportedReceipts,
  resolveRange,
} from './source';

type ExportRow = typeof exportsTable.$inferSelect;

const MAX_ATTEMPTS = 5;
/** Writes of one attempt a run of key changes may spoil before the attempt fails. */
const MAX_BUILDS = 3;

/** What GET /exports/{id} shows. */
export function toExportView(row: ExportRow) {
  const params = row.params as ExportParams;
  return {
    id: row.id,
    status: row.status as 'queued' | 'running' | 'done' | 'failed',
    jurisdiction: row.jurisdiction as Jurisdiction,
    includeBodies: Boolean(params.includeBodies),
    from: params.from ?? null,
    to: params.to ?? null,
    orderId: params.orderId ?? null,
    progress: { receipts: row.progress, total: row.total },
    bytes: row.bytes,
    sha256: row.sha256,
    error: row.error,
    createdAt: row.createdAt.toISOString(),
    finishedAt: row.finishedAt?.toISOString() ?? null,
  };
}

export interface ExportDeps {
  db: Db;
  vault: Vault;
  keyRing: KeyRing;
  clock: () => Date;
  logger: Logger;
  metrics: Metrics;
  /** Where bundles are written and read: the data folder or S3. */
  bundles: BundleStore;
  /** Answer downloads with a redirect to a short-lived URL of the store (S3 with a URL TTL). */
  redirectDownloads: boolean;
  /** DER certificates for tsa/ besides those the tokens embed (the TSA's trust anchors). */
  tsaCertificates: Uint8Array[];
  /** How long a builder holds an export; renewed while it builds. */
  leaseSeconds: number;
  /** Longest wait before an export the bundle store refused for now is tried again. */
  retryMaxMs: number;
  /** True once the process is shutting down: a running build stops and hands the export on. */
  stopping?: () => boolean;
}

/** What a download answers: the bundle's bytes, or where to fetch them directly. */
export type BundleDownload =
  | { row: ExportRow; url: string }
  | { row: ExportRow; url?: undefined; stream: Readable; bytes: number };

/** Seconds a client waits before asking again while the bundle store cannot be reached. */
const STORE_RETRY_AFTER_S = 5;

/** The name a downloaded bundle is saved under. */
export function bundleFilename(row: ExportRow): string {
  return `quittance-${row.merchantId}-${row.jurisdiction}-${row.id}.zip`;
}

/**
 * Export bundles (SPEC §9): requested by merchant and auditor keys, built by a job from
 * PostgreSQL and streamed into the bundle store (the data folder, or S3 through a multipart
 * upload), downloadable from any process once done. A bundle becomes visible at its key only
 * when the build commits, inside the transaction that marks the export done while its lease
 * holds, so nothing half written is ever served.
 */
export class ExportService {
  constructor(private readonly deps: ExportDeps) {}

  async create(principal: Principal, params: ExportParams) {
    if (principal.role === 'agent')
      throw new ServiceError('forbidden', 'agent keys may not export');
    const now = this.deps.clock();
    // A window that starts later than now holds no receipt: a mistake, not an empty export.
    if (params.from && Date.parse(params.from) > now.getTime())
      throw new ServiceError(
        'invalid_request',
        `from ${params.from} is in the future: an export holds receipts already issued`,
      );
    // The window ends when it was asked for at the latest, whenever it is built: a build that
    // waited, or was interrupted and done again after a restart, holds the same receipts.
    const to = params.to && Date.parse(params.to) < now.getTime() ? params.to : now.toISOString();
    const [row] = await this.deps.db
      .insert(exportsTable)
      .values({
        id: newId('exp'),
        merchantId: principal.merchantId,
        requestedBy: principal.keyPrefix,
        jurisdiction: params.jurisdiction,
        params: { ...params, to },
      })
      .returning();
    return toExportView(row as ExportRow);
  }

  /** The export, if this principal's merchant owns it and its role may see it. */
  async get(principal: Principal, id: string): Promise<ExportRow> {
    if (principal.role === 'agent') throw new ServiceError('not_found', `no export ${id}`);
    const [row] = await this.deps.db
      .select()
      .from(exportsTable)
      .where(and(eq(exportsTable.id, id), eq(exportsTable.merchantId, principal.merchantId)));
    if (!row) throw new ServiceError('not_found', `no export ${id}`);
    return row;
  }

  async download(principal: Principal, id: string): Promise<BundleDownload> {
    const row = await this.get(principal, id);
    if (row.status !== 'done')
      throw new ServiceError('export_not_ready', `export ${id} is ${row.status}`);
    if (!row.bundleKey)
      throw new ServiceError(
        'not_found',
        `the bundle of export ${id} was deleted when its retention ended`,
      );
    const { bundles, redirectDownloads } = this.deps;
    try {
      if (redirectDownloads) {
        const url = await bundles.downloadUrl(row.bundleKey, { filename: bundleFilename(row) });
        if (url) return { row, url };
      }
      return { row, ...(await bundles.open(row.bundleKey)) };
    } catch (error) {
      if (isBundleStoreError(error, 'not_found'))
        throw new ServiceError('not_found', `the bundle of export ${id} is no longer stored`, {
          cause: error,
        });
      if (isBundleStoreError(error, 'store_unavailable'))
        throw new ServiceError('service_unavailable', 'the bundle store is unavailable', {
          cause: error,
          retryAfterSeconds: STORE_RETRY_AFTER_S,
        });
      throw error;
    }
  }

  /** Exports waiting for a builder (the sweep re-adds them after a crash). */
  async due(): Promise<string[]> {
    const rows = await this.deps.db
      .select({ id: exportsTable.id })
      .from(exportsTable)
      .where(
        and(
          inArray(exportsTable.status, ['queued', 'running']),
          leaseIsFree(exportsTable.leasedUntil),
        ),
      )
      .limit(100);
    return rows.map((r) => r.id);
  }

  /** Builds one export; a lease keeps two workers from building the same one. */
  async build(id: string): Promise<void> {
    const { db, leaseSeconds } = this.deps;
    const [row] = await db
      .update(exportsTable)
      .set({
        status: 'running',
        attempts: sql`${exportsTable.attempts} + 1`,
        leasedUntil: leaseFor(leaseSeconds),
        startedAt: sql`coalesce(${exportsTable.startedAt}, now())`,
      })
      .where(
        and(
          eq(exportsTable.id, id),
          inArray(exportsTable.status, ['queued', 'running']),
          leaseIsFree(exportsTable.leasedUntil),
        ),
      )
      .returning();
    if (!row) return;
    // This build's lease is (id, attempts): renewed while it runs, so a builder that died
    // frees the export within one lease, and only the holder may finish it.
    const mine = and(
      eq(exportsTable.id, id),
      eq(exportsTable.attempts, row.attempts),
      eq(exportsTable.status, 'running'),
    );
    const heartbeat = setInterval(
      () => {
        void db
          .update(exportsTable)
          .set({ leasedUntil: leaseFor(leaseSeconds) })
          .where(mine)
          .catch(() => {});
      },
      (leaseSeconds * 1000) / 3,
    );
    heartbeat.unref();
    try {
      await this.#buildLeased(id, row, mine);
    } finally {
      clearInterval(heartbeat);
    }
  }

  async #buildLeased(id: string, row: ExportRow, mine: SQL | undefined): Promise<void> {
    const { db, clock, logger, metrics } = this.deps;
    const params = row.params as ExportParams;
    const window = exportWindow(params, clock());
    const range = await resolveRange(db, row.merchantId, window, params.orderId);
    const [{ total } = { total: 0 }] = await db
      .select({ total: count() })
      .from(receipts)
      .where(
        range.firstSeq === null
          ? sql`false`
          : and(
              exportedReceipts(range),
              gte(receipts.seq, range.firstSeq),
              lte(receipts.seq, range.lastSeq as number),
            ),
      );
    await db
      .update(exportsTable)
      .set({ total: Number(total) })
      .where(eq(exportsTable.id, id));

    const key = bundleKey({
      jurisdiction: row.jurisdiction,
      merchantId: row.merchantId,
      exportId: id,
    });
    let write: BundleWrite | undefined;
    let signerKid = '(not reached)';
    const started = performance.now();
    try {
      let built: WriteResult | undefined;
      // A key change while the bundle is written leaves its manifest unverifiable (signed by
      // a key its key history lacks, or after its createdAt): it is written again, anew.
      for (let build = 1; !built; build++) {
        write = await this.deps.bundles.create(key);
        try {
          built = await this.#writeSigned(write, row, window, range, (kid) => {
            signerKid = kid;
          });
        } catch (error) {
          if (!(error instanceof KeyHistoryChanged) || build >= MAX_BUILDS) throw error;
          logger.info({ exportId: id, build }, 'signing keys changed during the export; rebuilt');
          await write.abort();
          write = undefined;
        }
      }
      const { manifest, bytes, sha256 } = built;
      // Finished only while the lease is still this build's: with the row locked, the bundle
      // becomes visible at its key and the row says done, or another builder took over and
      // this one leaves no trace. A commit the store refuses rolls the row back.
      const committing = write as BundleWrite;
      const finished = await db.transaction(async (tx) => {
        const [held] = await tx
          .select({ id: exportsTable.id })
          .from(exportsTable)
          .where(mine)
          .for('update');
        if (!held) return false;
        await committing.commit();
        await tx
          .update(exportsTable)
          .set({
            status: 'done',
            progress: manifest.counts.receipts,
            bytes,
            sha256,
            bundleKey: key,
            finishedAt: new Date(),
            leasedUntil: null,
            error: null,
          })
          .where(eq(exportsTable.id, id));
        return true;
      });
      if (!finished) {
        await committing.abort();
        logger.warn({ exportId: id }, 'export lease lost to another builder; result dropped');
        return;
      }
      logger.info(
        {
          exportId: id,
          receipts: manifest.counts.receipts,
          bytes,
          store: this.deps.bundles.location,
        },
        'export built',
      );
      metrics.exportDuration.observe({ status: 'done' }, (performance.now() - started) / 1000);
    } catch (error) {
      await write?.abort();
      if (error instanceof BuildInterrupted) {
        // Queued again with its lease let go, for the next process to build at once; not an
        // attempt of its own.
        await db
          .update(exportsTable)
          .set({
            status: 'queued',
            leasedUntil: null,
            attempts: sql`${exportsTable.attempts} - 1`,
          })
          .where(mine);
        logger.info({ exportId: id }, 'export build stopped by shutdown; queued again');
        return;
      }
      metrics.exportDuration.observe({ status: 'failed' }, (performance.now() - started) / 1000);
      await this.#recordFailure(row, mine, error, signerKid);
    }
  }

  /**
   * Writes the bundle of `range` into `write`, created now: its manifest signed by the
   * merchant's active key, outside the chain lock, and kept only if that key is still active
   * and was at createdAt; KeyHistoryChanged when a key changed meanwhile.
   */
  async #writeSigned(
    write: BundleWrite,
    row: ExportRow,
    window: { from: Date; to: Date },
    range: ExportRange,
    onSigner: (kid: string) => void,
  ): Promise<WriteResult> {
    const { db, keyRing, vault, clock } = this.deps;
    const params = row.params as ExportParams;
    const createdAt = clock();
    // Without createdAt's month's snapshot in the bundle, a verifier cannot check the
    // manifest's signing key (manifest_valid unknown).
    await keyRing.ensureSnapshot(createdAt);
    const source = databaseSource(db, vault, range, this.deps.stopping);
    let published: ReadonlySet<string> = new Set();
    let lastProgress = 0;
    return writeBundle(
      write.stream,
      {
        bundleId: row.id,
        merchantId: row.merchantId,
        jurisdiction: row.jurisdiction as Jurisdiction,
        range: {
          from: window.from.toISOString(),
          to: window.to.toISOString(),
          orderId: params.orderId ?? null,
          firstSeq: range.firstSeq,
          lastSeq: range.lastSeq,
        },
        createdAt: createdAt.toISOString(),
        includeBodies: Boolean(params.includeBodies),
      },
      {
        ...source,
        async snapshots(periods) {
          const documents = await source.snapshots(periods);
          published = publishedKidsIn(documents);
          return documents;
        },
        tsaCertificates: this.deps.tsaCertificates,
      },
      (manifest) =>
        keyRing.signManifest(row.merchantId, createdAt.toISOString(), published, async (signer) => {
          onSigner(signer.kid);
          return (await signDigest(manifest, JWS_TYPES.manifest, signer)).jws;
        }),
      (done) => {
        if (done - lastProgress < 5_000) return;
        lastProgress = done;
        void db
          .update(exportsTable)
          .set({ progress: done })
          .where(eq(exportsTable.id, row.id))
          .catch(() => {});
      },
    );
  }

  /**
   * Puts a failed build back in the queue, or fails the export for good: a manifest the key
   * cannot sign never will be, and other errors get a few attempts. A bundle store that is
   * down or refused the write for now only delays the export: it is tried again after a
   * backoff (capped), however long the outage, and its attempts do not count.
   */
  async #recordFailure(
    row: ExportRow,
    mine: SQL | undefined,
    error: unknown,
    signerKid: string,
  ): Promise<never> {
    const storeOutage = isBundleStoreError(error, 'store_unavailable');
    const permanent =
      error instanceof FormatError || (!storeOutage && row.attempts >= MAX_ATTEMPTS);
    const message =
      error instanceof FormatError
        ? `the manifest cannot be signed by ${signerKid}: ${error.message}`
        : (error as Error).message;
    const backoffMs = Math.min(this.deps.retryMaxMs, 1_000 * 2 ** Math.min(row.attempts - 1, 20));
    await this.deps.db
      .update(exportsTable)
      .set({
        status: permanent ? 'failed' : 'queued',
        error: message.slice(0, 500),
        // The lease doubles as "not before": the sweep leaves the export alone until then.
        leasedUntil: storeOutage ? leaseFor(backoffMs / 1000) : null,
      })
      .where(mine);
    throw permanent ? new PermanentJobError(message) : error;
  }
}

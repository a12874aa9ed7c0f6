import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Jurisdiction, writeBundle } from '@quittance/bundle';
import { exports as exportsTable, receipts } from '@quittance/db';
import { FormatError, JWS_TYPES, newId } from '@quittance/format';
import { PermanentJobError } from '@quittance/jobs';
import { signDigest } from '@quittance/signer';
import { and, count, eq, gte, inArray, isNull, lt, lte, or, type SQL, sql } from 'drizzle-orm';
import type { Principal } from '../auth/api-keys';
import { ApiError } from '../http/problem';
import type { Services } from '../services';
import { type ExportParams, exportWindow } from './range';
import { databaseSource, exportedReceipts, resolveRange } from './source';

type ExportRow = typeof exportsTable.$inferSelect;

const MAX_ATTEMPTS = 5;

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

/**
 * Export bundles (SPEC §9): requested by merchant and auditor keys, built by a job from
 * PostgreSQL into a zip under `<dataDir>/exports`, downloadable once done. Object storage
 * would replace only `pathOf`.
 */
export class ExportService {
  readonly dir: string;

  constructor(private readonly services: Services) {
    this.dir = join(services.config.dataDir, 'exports');
  }

  pathOf(id: string): string {
    return join(this.dir, `${id}.zip`);
  }

  async create(principal: Principal, params: ExportParams) {
    if (principal.role === 'agent') throw new ApiError('forbidden', 'agent keys may not export');
    const [row] = await this.services.db
      .insert(exportsTable)
      .values({
        id: newId('exp'),
        merchantId: principal.merchantId,
        requestedBy: principal.keyPrefix,
        jurisdiction: params.jurisdiction,
        params,
      })
      .returning();
    return toExportView(row as ExportRow);
  }

  /** The export, if this principal's merchant owns it and its role may see it. */
  async get(principal: Principal, id: string): Promise<ExportRow> {
    if (principal.role === 'agent') throw new ApiError('not_found', `no export ${id}`);
    const [row] = await this.services.db
      .select()
      .from(exportsTable)
      .where(and(eq(exportsTable.id, id), eq(exportsTable.merchantId, principal.merchantId)));
    if (!row) throw new ApiError('not_found', `no export ${id}`);
    return row;
  }

  async download(principal: Principal, id: string) {
    const row = await this.get(principal, id);
    if (row.status !== 'done')
      throw new ApiError('export_not_ready', `export ${id} is ${row.status}`);
    const path = this.pathOf(id);
    const { size } = await stat(path).catch(() => {
      throw new ApiError('not_found', `the bundle of export ${id} is no longer stored`);
    });
    return { stream: createReadStream(path), bytes: size, row };
  }

  /** Exports waiting for a builder (the sweep re-adds them after a crash). */
  async due(): Promise<string[]> {
    const rows = await this.services.db
      .select({ id: exportsTable.id })
      .from(exportsTable)
      .where(
        and(
          inArray(exportsTable.status, ['queued', 'running']),
          or(isNull(exportsTable.leasedUntil), lt(exportsTable.leasedUntil, sql`now()`)),
        ),
      )
      .limit(100);
    return rows.map((r) => r.id);
  }

  /** Builds one export; a lease keeps two workers from building the same one. */
  async build(id: string): Promise<void> {
    const { db } = this.services;
    const [row] = await db
      .update(exportsTable)
      .set({
        status: 'running',
        attempts: sql`${exportsTable.attempts} + 1`,
        leasedUntil: sql`now() + make_interval(secs => ${this.services.config.exportLeaseS})`,
        startedAt: sql`coalesce(${exportsTable.startedAt}, now())`,
      })
      .where(
        and(
          eq(exportsTable.id, id),
          inArray(exportsTable.status, ['queued', 'running']),
          or(isNull(exportsTable.leasedUntil), lt(exportsTable.leasedUntil, sql`now()`)),
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
          .set({
            leasedUntil: sql`now() + make_interval(secs => ${this.services.config.exportLeaseS})`,
          })
          .where(mine)
          .catch(() => {});
      },
      (this.services.config.exportLeaseS * 1000) / 3,
    );
    heartbeat.unref();
    try {
      await this.#buildLeased(id, row, mine);
    } finally {
      clearInterval(heartbeat);
    }
  }

  async #buildLeased(id: string, row: ExportRow, mine: SQL | undefined): Promise<void> {
    const { db, keyRing, vault, clock, logger } = this.services;
    const params = row.params as ExportParams;
    const now = clock();
    const window = exportWindow(params, now);
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

    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const temporary = `${this.pathOf(id)}.${process.pid}.tmp`;
    let signerKid = '(not reached)';
    let lastProgress = 0;
    const started = performance.now();
    try {
      const { manifest, bytes, sha256 } = await writeBundle(
        createWriteStream(temporary, { mode: 0o600 }),
        {
          bundleId: id,
          merchantId: row.merchantId,
          jurisdiction: row.jurisdiction as Jurisdiction,
          range: {
            from: window.from.toISOString(),
            to: window.to.toISOString(),
            orderId: params.orderId ?? null,
            firstSeq: range.firstSeq,
            lastSeq: range.lastSeq,
          },
          createdAt: now.toISOString(),
          includeBodies: Boolean(params.includeBodies),
        },
        databaseSource(db, vault, range),
        // Signed by the merchant's active key, outside the chain lock; kept only if that key
        // was still active once the lock was held.
        (manifest) =>
          keyRing.signWithCurrentKey(
            row.merchantId,
            async (signer) => {
              signerKid = signer.kid;
              return (await signDigest(manifest, JWS_TYPES.manifest, signer)).jws;
            },
            async (_tx, jws) => jws,
          ),
        (done) => {
          if (done - lastProgress < 5_000) return;
          lastProgress = done;
          void db
            .update(exportsTable)
            .set({ progress: done })
            .where(eq(exportsTable.id, id))
            .catch(() => {});
        },
      );
      // Finished only while the lease is still this build's: with the row locked, the bundle
      // takes its place and the row says done, or another builder took over and this one
      // leaves no trace.
      const finished = await db.transaction(async (tx) => {
        const [held] = await tx
          .select({ id: exportsTable.id })
          .from(exportsTable)
          .where(mine)
          .for('update');
        if (!held) return false;
        await rename(temporary, this.pathOf(id));
        await tx
          .update(exportsTable)
          .set({
            status: 'done',
            progress: manifest.counts.receipts,
            bytes,
            sha256,
            finishedAt: new Date(),
            leasedUntil: null,
            error: null,
          })
          .where(eq(exportsTable.id, id));
        return true;
      });
      if (!finished) {
        await rm(temporary, { force: true });
        logger.warn({ exportId: id }, 'export lease lost to another builder; result dropped');
        return;
      }
      logger.info({ exportId: id, receipts: manifest.counts.receipts, bytes }, 'export built');
      this.services.metrics.exportDuration.observe(
        { status: 'done' },
        (performance.now() - started) / 1000,
      );
    } catch (error) {
      await rm(temporary, { force: true });
      this.services.metrics.exportDuration.observe(
        { status: 'failed' },
        (performance.now() - started) / 1000,
      );
      // A manifest the key cannot sign never will be; anything else is retried a few times.
      const permanent = error instanceof FormatError || row.attempts >= MAX_ATTEMPTS;
      const message =
        error instanceof FormatError
          ? `the manifest cannot be signed by ${signerKid}: ${error.message}`
          : (error as Error).message;
      await db
        .update(exportsTable)
        .set({
          status: permanent ? 'failed' : 'queued',
          error: message.slice(0, 500),
          leasedUntil: null,
        })
        .where(mine);
      throw permanent ? new PermanentJobError(message) : error;
    }
  }
}

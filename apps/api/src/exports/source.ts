import type { BundleSource, ChainEntry, LogFrontier, ReceiptLine } from '@quittance/bundle';
import { checkpoints, type Db, receipts } from '@quittance/db';
import { appendToFrontier, type Checkpoint, type ReceiptTimestamp } from '@quittance/format';
import type { Vault } from '@quittance/vault';
import { and, asc, eq, gte, lt, lte, max, min, type SQL } from 'drizzle-orm';
import { snapshotDocuments } from '../keys/snapshots';
import { checkpointView } from '../transparency/proofs';
import { bundleBodies } from '../vault/bodies';

const PAGE = 2_000;
/** Receipts whose bodies one query reads during an export (up to 2 MiB each). */
const BODIES_AT_ONCE = 32;

export interface ExportRange {
  merchantId: string;
  from: Date;
  to: Date;
  orderId: string | undefined;
  firstSeq: number | null;
  lastSeq: number | null;
}

/** Finds the seq range of the receipts an export holds (null when there are none). */
export async function resolveRange(
  db: Db,
  merchantId: string,
  window: { from: Date; to: Date },
  orderId: string | undefined,
): Promise<ExportRange> {
  const [bounds] = await db
    .select({ first: min(receipts.seq), last: max(receipts.seq) })
    .from(receipts)
    .where(and(...receiptFilter(merchantId, window, orderId)));
  const first = bounds?.first == null ? null : Number(bounds.first);
  const last = bounds?.last == null ? null : Number(bounds.last);
  return { merchantId, ...window, orderId, firstSeq: first, lastSeq: last };
}

function receiptFilter(
  merchantId: string,
  window: { from: Date; to: Date },
  orderId: string | undefined,
): SQL[] {
  const filter = [
    eq(receipts.merchantId, merchantId),
    gte(receipts.createdAt, window.from),
    lt(receipts.createdAt, window.to),
  ];
  if (orderId) filter.push(eq(receipts.orderId, orderId));
  return filter;
}

/** The process is shutting down: a build stops between pages and leaves the export to another. */
export class BuildInterrupted extends Error {
  constructor() {
    super('the process is shutting down');
    this.name = 'BuildInterrupted';
  }
}

/**
 * Streams an export's content out of PostgreSQL page by page (by seq, never OFFSET), so
 * memory does not grow with the number of receipts.
 */
export function databaseSource(
  db: Db,
  vault: Vault,
  range: ExportRange,
  stopping: () => boolean = () => false,
): BundleSource {
  const inRange = (seq: typeof receipts.seq, from: number) =>
    range.lastSeq === null ? [] : [gte(seq, from), lte(seq, range.lastSeq)];
  async function* pageList<T extends { seq: number }>(
    fetch: (after: number) => Promise<T[]>,
    start: number,
  ) {
    let after = start - 1;
    for (;;) {
      if (stopping()) throw new BuildInterrupted();
      const page = await fetch(after);
      yield page;
      if (page.length < PAGE) return;
      after = (page.at(-1) as T).seq;
    }
  }
  async function* pages<T extends { seq: number }>(
    fetch: (after: number) => Promise<T[]>,
    start: number,
  ) {
    for await (const page of pageList(fetch, start)) yield* page;
  }
  const firstSeq = range.firstSeq ?? 0;
  // The window only chooses the seq bounds: inside them every receipt is exported (or every
  // receipt of the order), so the chain of the range has no hole where createdAt and chain
  // order differ by a few milliseconds.
  const filtered = exportedReceipts(range);

  return {
    async *chainEntries(): AsyncIterable<ChainEntry> {
      if (range.firstSeq === null) return;
      const start = Math.max(1, firstSeq - 1);
      yield* pages(
        (after) =>
          db
            .select({
              seq: receipts.seq,
              prevHash: receipts.prevHash,
              receiptId: receipts.id,
              receiptHash: receipts.receiptHash,
              entryHash: receipts.entryHash,
            })
            .from(receipts)
            .where(
              and(
                eq(receipts.merchantId, range.merchantId),
                gte(receipts.seq, after + 1),
                ...inRange(receipts.seq, start),
              ),
            )
            .orderBy(asc(receipts.seq))
            .limit(PAGE),
        start,
      );
    },
    async *receipts(): AsyncIterable<ReceiptLine> {
      if (range.firstSeq === null) return;
      for await (const row of pages(
        (after) =>
          db
            .select({
              seq: receipts.seq,
              signed: receipts.signed,
              jws: receipts.jws,
              legalPosture: receipts.legalPosture,
              timestamp: receipts.timestamp,
              prevHash: receipts.prevHash,
              entryHash: receipts.entryHash,
            })
            .from(receipts)
            .where(and(filtered, gte(receipts.seq, after + 1), ...inRange(receipts.seq, firstSeq)))
            .orderBy(asc(receipts.seq))
            .limit(PAGE),
        firstSeq,
      )) {
        yield receiptLine(row);
      }
    },
    async *checkpoints(): AsyncIterable<Checkpoint> {
      if (range.firstSeq === null) return;
      const rows = await db
        .select()
        .from(checkpoints)
        .where(
          and(
            eq(checkpoints.merchantId, range.merchantId),
            ...inRange(checkpoints.seq as never, firstSeq),
          ),
        )
        .orderBy(asc(checkpoints.seq));
      for (const row of rows) {
        yield checkpointView(row);
      }
    },
    snapshots: (periods) => snapshotDocuments(db, periods),
    /**
     * log.json (SPEC §9): the frontier of entries 1..s − 1, s the range's first seq. Folded from
     * the chain entries read page by page (memory stays flat), so this reads O(s) hashes: fine
     * for now, but the cost grows with the merchant's log, not the export. The stored head
     * frontier is of the head, not of s − 1, and checkpoints keep only their root; storing each
     * checkpoint's frontier would let this start from the checkpoint at or below s − 1 instead.
     */
    async log(): Promise<LogFrontier> {
      const size = Math.max(0, firstSeq - 1);
      let frontier: string[] = [];
      let folded = 0;
      for (;;) {
        const page = await db
          .select({ seq: receipts.seq, entryHash: receipts.entryHash })
          .from(receipts)
          .where(
            and(
              eq(receipts.merchantId, range.merchantId),
              gte(receipts.seq, folded + 1),
              lte(receipts.seq, size),
            ),
          )
          .orderBy(asc(receipts.seq))
          .limit(PAGE * 5);
        if (page.length === 0) break;
        if (page[0]?.seq !== folded + 1 || page.at(-1)?.seq !== folded + page.length)
          throw new Error(
            `the chain of ${range.merchantId} has a gap before seq ${folded + page.length}`,
          );
        frontier = await appendToFrontier(
          frontier,
          folded,
          page.map((row) => row.entryHash),
        );
        folded += page.length;
      }
      if (folded !== size)
        throw new Error(
          `the chain of ${range.merchantId} has ${folded} entries before seq ${firstSeq}`,
        );
      return { size, frontier };
    },
    async *bodies() {
      if (range.firstSeq === null) return;
      for await (const page of pageList(
        (after) =>
          db
            .select({ id: receipts.id, seq: receipts.seq })
            .from(receipts)
            .where(and(filtered, gte(receipts.seq, after + 1), ...inRange(receipts.seq, firstSeq)))
            .orderBy(asc(receipts.seq))
            .limit(PAGE),
        firstSeq,
      ))
        yield* bundleBodies(
          db,
          vault,
          range.merchantId,
          page.map((row) => row.id),
          BODIES_AT_ONCE,
        );
    },
  };
}

/**
 * The receipts.jsonl line of a stored receipt, built from its canonical signed text and the
 * envelope without parsing and re-serializing (export speed and garbage).
 */
export function receiptLine(row: {
  seq: number;
  signed: string;
  jws: string;
  legalPosture: string;
  timestamp: unknown;
  prevHash: string;
  entryHash: string;
}): ReceiptLine {
  const timestamp = (row.timestamp as ReceiptTimestamp | null) ?? null;
  const envelope =
    `"jws":${JSON.stringify(row.jws)},"legal_posture":${JSON.stringify(row.legalPosture)},` +
    `"timestamp":${timestamp ? JSON.stringify(timestamp) : 'null'},` +
    `"chain":{"seq":${row.seq},"prevHash":"${row.prevHash}","entryHash":"${row.entryHash}"}`;
  return {
    json: `${row.signed.slice(0, -1)},${envelope}}`,
    jwksSnapshotUrl: /"jwksSnapshotUrl":"([^"]*)"/.exec(row.signed)?.[1] ?? '',
    timestampToken: timestamp?.token ?? null,
  };
}

/** Which receipts of the seq range an export holds: all of them, or those of its order. */
export function exportedReceipts(range: Pick<ExportRange, 'merchantId' | 'orderId'>): SQL {
  return and(
    eq(receipts.merchantId, range.merchantId),
    ...(range.orderId ? [eq(receipts.orderId, range.orderId)] : []),
  ) as SQL;
}

import { type Db, rowsOf } from '@quittance/db';
import type { JobQueue } from '@quittance/jobs';
import { sql } from 'drizzle-orm';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** How long a scrape waits on PostgreSQL or the queue for a gauge before keeping its last value. */
const SOURCE_TIMEOUT_MS = 1_000;

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Prometheus metrics of one process (GET /metrics). Each process has its own registry;
 * Prometheus scrapes every process and sums.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly receiptsIssued = new Counter({
    name: 'quittance_receipts_issued_total',
    help: 'Receipts issued, by bucket; replays of a callId are counted apart',
    labelNames: ['bucket', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly issueLatency = new Histogram({
    name: 'quittance_issue_duration_seconds',
    help: 'Time to issue a receipt, request to committed chain entry',
    labelNames: ['outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly appendBatchSize = new Histogram({
    name: 'quittance_chain_append_batch_size',
    help: 'Receipts appended per chain transaction',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });
  readonly signingLatency = new Histogram({
    name: 'quittance_signing_duration_seconds',
    help: 'Time the signer (local key or KMS) takes for one signature',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly timestampsAttached = new Counter({
    name: 'quittance_timestamps_attached_total',
    help: 'RFC 3161 tokens verified and attached (receipts and checkpoints)',
    labelNames: ['subject'] as const,
    registers: [this.registry],
  });
  readonly tsaErrors = new Counter({
    name: 'quittance_tsa_errors_total',
    help: 'Failed timestamp attempts, by error code (tsa_unavailable, bad_eku, …)',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly exportDuration = new Histogram({
    name: 'quittance_export_duration_seconds',
    help: 'Time to build an export bundle',
    labelNames: ['status'] as const,
    buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });
  readonly httpRequests = new Counter({
    name: 'quittance_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  #queue: JobQueue | undefined;

  constructor(db: Db) {
    collectDefaultMetrics({ register: this.registry, prefix: 'quittance_process_' });
    // A scrape collects every metric at once (prom-client's Registry.metrics), in the order
    // registered: this gauge, registered after the ones it reports on, waits for their reads.
    let reads: Promise<void>[] = [];
    const sourceUp = new Gauge({
      name: 'quittance_metrics_source_up',
      help: 'Whether this scrape read each source of the gauges (1), or kept their last values (0)',
      labelNames: ['source'] as const,
      registers: [],
      async collect() {
        const pending = reads;
        reads = [];
        await Promise.all(pending);
      },
    });
    // A source that is down or slow keeps its gauges' last values for this scrape: /metrics
    // answered 503 while PostgreSQL was down (an outside check), losing every metric of the
    // process, the error counters among them, when they matter most.
    const readOrKeep = (source: string, read: () => Promise<void>): Promise<void> => {
      let timer: NodeJS.Timeout | undefined;
      const done = Promise.race([
        read(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), SOURCE_TIMEOUT_MS);
        }),
      ])
        .then(
          () => sourceUp.set({ source }, 1),
          () => sourceUp.set({ source }, 0),
        )
        .finally(() => clearTimeout(timer));
      reads.push(done);
      return done;
    };
    new Gauge({
      name: 'quittance_timestamp_backlog',
      help: 'Receipts still waiting for an RFC 3161 timestamp (from PostgreSQL)',
      registers: [this.registry],
      async collect() {
        await readOrKeep('postgresql', async () => {
          const [row] = rowsOf<{ n: number }>(
            await db.execute(sql`select count(*)::int as n from pending_timestamps`),
          );
          this.set(Number(row?.n ?? 0));
        });
      },
    });
    const metrics = this;
    new Gauge({
      name: 'quittance_job_queue_depth',
      help: 'Jobs in this process view of the queue, by state',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        const queue = metrics.#queue;
        if (!queue) return;
        await readOrKeep('queue', async () => {
          const counts = await queue.counts();
          for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
        });
      },
    });
    this.registry.registerMetric(sourceUp);
  }

  /** The queue whose depth `quittance_job_queue_depth` reports. */
  watchQueue(queue: JobQueue): void {
    this.#queue = queue;
  }
}

import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KMSClient } from '@aws-sdk/client-kms';
import { type BundleStore, openBundleStore } from '@quittance/bundle-store';
import { type Database, type Db, EMBEDDED_STALL_MS, migrate, openDatabase } from '@quittance/db';
import { base64url } from '@quittance/format';
import { createKmsClient, type Signer } from '@quittance/signer';
import { LocalKeyWrapper, Vault } from '@quittance/vault';
import { sql } from 'drizzle-orm';
import pino, { type Logger } from 'pino';
import { ApiKeyService } from './auth/api-keys';
import { ChainAppender } from './chain/chain-appender';
import { ReceiptIssuer } from './chain/issuer';
import { OrderListing } from './chain/order-listing';
import { ReceiptQueries } from './chain/queries';
import type { Config } from './config';
import { prepareDataFolder, restrictDataFolder } from './data-folder';
import { ExportService } from './exports/service';
import { KeyRing } from './keys/key-ring';
import { loadPublisher } from './keys/publisher';
import { importSigningKeyFiles, kmsSignerFactory, localSignerFactory } from './keys/signer-factory';
import { SnapshotService } from './keys/snapshots';
import { Metrics } from './metrics';
import { type Timestamper, TsaTimestamper } from './timestamps/timestamper';
import { CheckpointList } from './transparency/checkpoint-list';
import { EvidenceService } from './transparency/evidence';
import { ProofService } from './transparency/proofs';
import { BodyReader } from './vault/bodies';
import { databaseKeyStore } from './vault/vault-store';
import { loadVaultWrapper } from './vault/vault-wrapper';
import { WrappedKeyStore } from './vault/wrapped-keys';

/** Everything a request needs, built once at start-up (STYLE: unkey's hono/env). */
export interface Services {
  config: Config;
  database: Database;
  db: Db;
  logger: Logger;
  clock: () => Date;
  publisher: Signer;
  vault: Vault;
  snapshots: SnapshotService;
  keyRing: KeyRing;
  apiKeys: ApiKeyService;
  appender: ChainAppender;
  issuer: ReceiptIssuer;
  receipts: ReceiptQueries;
  orderListing: OrderListing;
  bodies: BodyReader;
  proofs: ProofService;
  checkpoints: CheckpointList;
  evidence: EvidenceService;
  admin: { token: string; generated: boolean };
  exports: ExportService;
  /** Where export bundles live (the data folder or S3); shared by every process when S3. */
  bundles: BundleStore;
  metrics: Metrics;
  /** RFC 3161 client when QUITTANCE_TSA_URL is set; without it receipts stay `signed`. */
  timestamper: Timestamper | undefined;
  /** Flipped first on shutdown, so /readyz turns unready before anything stops. */
  state: { shuttingDown: boolean };
  isReady(): Promise<boolean>;
  close(): Promise<void>;
}

export interface ServiceOptions {
  logger?: Logger;
  clock?: () => Date;
  /** A KMS client for signing keys, publisher and vault (tests point it at the KMS endpoint). */
  kmsClient?: KMSClient;
}

/** How long /readyz waits for the database before it answers "not ready". */
const READY_PROBE_MS = 1_000;

export async function createServices(
  config: Config,
  options: ServiceOptions = {},
): Promise<Services> {
  const logger =
    options.logger ?? pino({ level: config.logLevel, base: { service: 'quittance-api' } });
  const clock = options.clock ?? (() => new Date());
  await prepareDataFolder(config.dataDir);
  const needsKms =
    config.signingBackend === 'kms' ||
    config.vaultKmsKeyId !== undefined ||
    config.publisherKmsKeyId !== undefined;
  const kmsClient = options.kmsClient ?? (needsKms ? await createKmsClient() : undefined);

  const database = await openDatabase({
    url: config.databaseUrl,
    dataDir: join(config.dataDir, 'pglite'),
    max: config.dbPool,
    // The embedded database reopens itself after an abort (a full disk); say so in the log.
    onEmbeddedEvent: ({ type, ...event }) => {
      if (type === 'reopened') logger.warn(event, 'embedded database reopened');
      else if (type === 'stopped') logger.error(event, 'embedded database stopped; reopening');
      else if (type === 'reopen_failed')
        logger.warn(event, 'embedded database could not be reopened yet');
      else {
        // In-process recovery failed for good: exit, so that the orchestrator (or the person
        // who ran npm start) starts a fresh process, which runs crash recovery on open. What
        // was acknowledged is in the WAL; nothing can be served from this process anymore.
        logger.fatal(event, 'embedded database could not be reopened; exiting');
        process.stderr.write(
          `quittance: the embedded database in ${event.folder} stopped and could not be reopened (${event.reason}); exiting so that it is restarted\n`,
        );
        process.exit(1);
      }
    },
  });
  const { applied } = await migrate(database.db);
  if (applied.length > 0) logger.info({ applied }, 'database migrated');
  const db = database.db;

  // Without KMS, the keys every process shares are in the database, wrapped by
  // QUITTANCE_LOCAL_KEK; without that variable, they are files in this data folder.
  const localKeys = config.localKek
    ? new WrappedKeyStore(db, LocalKeyWrapper.fromKey(config.localKek))
    : undefined;
  const { signer: publisher, origin: publisherOrigin } = await loadPublisher({
    dataDir: config.dataDir,
    kms: config.publisherKmsKeyId
      ? { client: kmsClient as KMSClient, keyId: config.publisherKmsKeyId }
      : undefined,
    keys: localKeys && { store: localKeys, db },
  });
  const { wrapper, origin: vaultOrigin } = await loadVaultWrapper({
    dataDir: config.dataDir,
    db,
    kms: config.vaultKmsKeyId
      ? { client: kmsClient as KMSClient, keyId: config.vaultKmsKeyId }
      : undefined,
    keys: localKeys,
  });
  const importedSigningKeys = localKeys
    ? await importSigningKeyFiles(config.dataDir, localKeys)
    : [];
  if (publisherOrigin === 'imported' || vaultOrigin === 'imported' || importedSigningKeys.length)
    logger.info(
      {
        publisher: publisherOrigin === 'imported',
        vaultKek: vaultOrigin === 'imported',
        signingKeys: importedSigningKeys,
      },
      'data-folder keys imported into the database (wrapped by QUITTANCE_LOCAL_KEK)',
    );
  const vault = new Vault({ wrapper, store: databaseKeyStore(db) });
  const snapshots = new SnapshotService(publisher, config);
  const factory =
    config.signingBackend === 'kms'
      ? kmsSignerFactory(kmsClient as KMSClient)
      : localSignerFactory(config.dataDir, localKeys);
  const timestamper = config.tsaUrl
    ? await TsaTimestamper.fromConfig(config.tsaUrl, config.tsaTrust as string, config.tsaTimeoutMs)
    : undefined;
  const keyRing = new KeyRing(db, factory, snapshots, publisher, clock, timestamper);
  const appender = new ChainAppender(database, config.appendInFlight);
  const metrics = new Metrics(db);
  appender.stats.onBatch = (size) => metrics.appendBatchSize.observe(size);
  const receipts = new ReceiptQueries(db, database.rawQuery);
  const proofs = new ProofService(
    db,
    database.rawQuery,
    // Retry-After of a receipt no checkpoint covers yet: the next one is at most this far.
    Math.max(1, Math.ceil(config.checkpointIntervalMs / 1000)),
  );
  const state = { shuttingDown: false };
  const bundles = await openBundleStore(config.bundleStore);
  // Bundles carry the TSA's trust anchors besides what the tokens embed (often the TSA's own
  // certificate only), so that `openssl ts -verify -CAfile` works on tsa/ alone.
  const tsaCertificates = timestamper?.trustAnchors ?? [];

  return {
    config,
    database,
    db,
    logger,
    clock,
    publisher,
    vault,
    snapshots,
    keyRing,
    apiKeys: new ApiKeyService(db),
    appender,
    issuer: new ReceiptIssuer({
      db,
      vault,
      keyRing,
      snapshots,
      appender,
      clock,
      onSigned: (seconds) => metrics.signingLatency.observe(seconds),
    }),
    metrics,
    receipts,
    orderListing: new OrderListing(receipts),
    bodies: new BodyReader({ db, vault, receipts }),
    proofs,
    checkpoints: new CheckpointList(db),
    evidence: new EvidenceService({
      db,
      vault,
      receipts,
      proofs,
      keyRing,
      clock,
      tsaCertificates,
      concurrentBuilds: config.evidenceBuilds,
    }),
    exports: new ExportService({
      tsaCertificates,
      db,
      vault,
      keyRing,
      clock,
      logger,
      metrics,
      bundles,
      redirectDownloads:
        config.bundleStore.kind === 's3' && config.bundleStore.downloadUrlTtlS !== undefined,
      leaseSeconds: config.exportLeaseS,
      retryMaxMs: config.retryMaxMs,
      stopping: () => state.shuttingDown,
    }),
    bundles,
    admin: await adminToken(config),
    timestamper,
    state,
    async isReady() {
      if (state.shuttingDown) return false;
      // An orchestrator's probe must get an answer in time even while the database hangs
      // or is being reconnected to: no answer within a second is "not ready".
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), READY_PROBE_MS);
      });
      const probe = (async () => {
        // The embedded database: not while it is being reopened, its folder is full (reads
        // would pass, but no receipt can be issued) or its one connection is wedged. Work it
        // is getting through is ready: a query would only wait behind that work.
        const status = await database.status?.();
        if (status) {
          if (!status.open || status.storageFull) return false;
          if (status.stalledMs >= EMBEDDED_STALL_MS) return false;
          if (status.busy) return true;
        }
        await db.execute(sql`select 1`);
        return true;
      })().catch(() => false);
      try {
        return await Promise.race([probe, late]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      await bundles.close();
      await database.close();
      if (database.driver === 'pglite') await restrictDataFolder(config.dataDir);
    },
  };
}

/** QUITTANCE_ADMIN_TOKEN, or one generated on first start into the data folder (0600). */
async function adminToken(config: Config): Promise<{ token: string; generated: boolean }> {
  if (config.adminToken) return { token: config.adminToken, generated: false };
  const path = join(config.dataDir, 'admin-token');
  try {
    return { token: (await readFile(path, 'utf8')).trim(), generated: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const token = `qta_${base64url(randomBytes(32))}`;
  try {
    await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
    return { token, generated: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { token: (await readFile(path, 'utf8')).trim(), generated: false };
  }
}

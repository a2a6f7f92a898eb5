/**
 * Composition root: read configuration, build adapters, check that index and files agree, load and start
 * the pipelines, serve the API.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { serve, type ServerType } from '@hono/node-server';
import { DEFAULT_FORWARDING, describeConfig, loadConfig, type EngineConfig } from './config.js';
import { ConfigError } from './errors.js';
import { Engine } from './pipeline/engine.js';
import { loadPipelineFile } from './pipeline/pipeline-file.js';
import { Quarantine } from './pipeline/quarantine.js';
import { UploadRegistry, type BusRoles, type EngineServices } from './pipeline/services.js';
import type { BlobStore } from './storage/blob-store.js';
import { openFsBlobStore } from './storage/fs-blob-store.js';
import { openSqliteIndex } from './storage/sqlite-index.js';
import { openSqliteState } from './storage/sqlite-state.js';
import { UserService } from './users/service.js';
import { SeriesTypeService } from './series-types/service.js';
import { TagFilterService } from './tag-filters/service.js';
import { LogService } from './log/service.js';
import { ScuService } from './forwarding/scus.js';
import { ForwardingService } from './forwarding/service.js';
import { dimseSender } from './dimse/scu/dimse-sender.js';
import { ManagedSourceService } from './managed-sources/service.js';
import { ExportSetService } from './export/service.js';
import { AnonymizationService } from './anonymization/service.js';
import { groupCommitted } from './storage/group-commit.js';
import { loadOrCreateSecret } from './anonymization/secret.js';
import { BoxService } from './boxes/service.js';
import { reconcile } from './storage/reconcile.js';
import { createApp } from './api/app.js';
import { StageTimings } from './pipeline/stage-timings.js';
import { trustedProxies } from './api/auth.js';
import { registry } from './components.js';
import { RenderPool } from './render/pool.js';
import { RenderService } from './render/service.js';
import { QueryRetrieveService } from './dimse/qr/service.js';
import { backfillQueryColumns } from './storage/backfill-query-columns.js';
import { logger } from './ops/logger.js';
import { PACKAGE_VERSION } from './ops/package.js';
import { startProcessMetrics } from './ops/metrics.js';

const oplog = logger('engine');

export interface Running {
  config: EngineConfig;
  engine: Engine;
  server: ServerType;
  httpPort: number;
  stop(): Promise<void>;
}

export async function startSluice(config: EngineConfig = loadConfig()): Promise<Running> {
  trustedProxies(config.trustedProxies ?? []); // a wrong entry stops the start before anything runs
  oplog.debug({ config: describeConfig(config) }, 'effective configuration');
  startProcessMetrics();
  await mkdir(config.dataDir, { recursive: true });
  const roles = new Set(config.roles ?? ['all']);
  const whole = roles.has('all');
  const runsFrontend = whole || roles.has('frontend');
  const runsWorker = whole || roles.has('worker');
  if (!whole) requireSharedStores(config);
  const specs = await Promise.all(config.pipelines.map((file) => loadPipelineFile(file, registry)));
  // The index in the data directory, or in ClickHouse (an unreachable server stops the start, named); the
  // ClickHouse client is loaded only then.
  // With the state in PostgreSQL too, the index's ids come from its sequences (any number of processes).
  const index = config.index
    ? await import('./storage/clickhouse-index/index.js').then(async ({ openClickHouseIndex }) =>
        openClickHouseIndex({
          url: config.index!,
          ids: config.state
            ? await import('./storage/postgres-state/ids.js').then(({ openPostgresIdBlocks }) =>
                openPostgresIdBlocks(config.state!),
              )
            : undefined,
        }),
      )
    : openSqliteIndex(join(config.dataDir, 'index.sqlite'), { readers: config.indexReaders });
  const timings = new StageTimings();
  // Stored files on the local disk, or in an S3 bucket (an unreachable one stops the start, named). The AWS
  // SDK is loaded only then: it adds 100-170 ms to every start.
  const blobs = await (
    config.blobs
      ? import('./storage/s3-blob-store.js').then(({ openS3BlobStore }) =>
          openS3BlobStore({ location: config.blobs!, timings }),
        )
      : openFsBlobStore(join(config.dataDir, 'storage'), timings)
  ).catch(async (err: unknown) => {
    await index.close();
    throw err;
  });
  // Split over processes: the bus, and the incoming area beside the stored files (same bucket, its own prefix:
  // the stored keys never list it).
  const split = whole
    ? undefined
    : await openSplit(config, runsFrontend, runsWorker).catch(async (err: unknown) => {
        await index.close();
        await blobs.close();
        throw err;
      });
  // The state in the data directory, or in PostgreSQL (an unreachable server stops the start, named; the
  // database is created when missing); the PostgreSQL client is loaded only then.
  const state = await (
    config.state
      ? import('./storage/postgres-state/index.js').then(({ openPostgresState }) =>
          openPostgresState(config.state!),
        )
      : Promise.resolve().then(() => openSqliteState(join(config.dataDir, 'state.sqlite')))
  ).catch(async (err: unknown) => {
    await index.close();
    await blobs.close();
    await split?.close();
    throw err;
  });
  const users = new UserService(state, { sessionTimeoutSecs: config.sessionTimeoutSecs });
  await users.ensureSuperuser(config.adminUser, config.adminPassword);
  if (config.adminPassword === 'admin')
    oplog.warn('the superuser has the default password "admin": set SLUICE_ADMIN_PASSWORD');
  const seriesTypes = new SeriesTypeService(state, index, blobs, {});
  const tagFilters = new TagFilterService(state);
  const log = new LogService(state);
  // Rendering and the decompression of compressed instances for peers that refuse them share the pool.
  const renderPool = new RenderPool();
  const sender = dimseSender(config.aeTitle, {
    decompress: (path, transferSyntaxUid) => renderPool.transcode(path, transferSyntaxUid),
  });
  const anonymization = new AnonymizationService(
    await loadOrCreateSecret(join(config.dataDir, 'anonymization.secret')),
    state,
    { index, blobs, scratchDir: join(config.dataDir, 'anonymization-tmp') },
  );
  // Bound before the first box connection is created (the HTTP port may be 0: chosen at listen).
  let boundHttpPort = config.httpPort;
  const boxes = new BoxService(
    // Every image of a transfer ends with one small write: group-committed, they share disk flushes.
    groupCommitted(state, [
      'recordIncomingImage',
      'markOutgoingSent',
      'markOutgoingFailed',
      'reportOutgoingImage',
    ]),
    index,
    blobs,
    async (file, request) => (await anonymization.anonymizeBatched(file, request, undefined, 2)).parts,
    {
      publicApiUrl: () => `${config.publicUrl ?? defaultPublicUrl(config.httpHost, boundHttpPort)}/api`,
      timings: config.boxes,
      ...(whole ? {} : { shared: { owner: `${hostname()}:${process.pid}:${randomUUID()}`, holdMs: 10_000 } }),
    },
  );
  // Boxes are forwarding destinations; their outgoing transactions live in the same state store as the
  // outbox, which forwarding relies on to hand a batch to a box atomically.
  const forwarding = new ForwardingService(
    state,
    {
      index,
      blobs,
      sender,
      log,
      boxes: {
        boxName: async (id) => (await state.box(id))?.name,
        sendWithDefaultProfile: (id, imageIds, tx) => boxes.sendWithDefaultProfile(id, imageIds, tx),
        outgoingTransaction: (id) => state.outgoingTransaction(id),
        outgoingImages: (id) => state.outgoingImages(id),
      },
    },
    { ...DEFAULT_FORWARDING, ...config.forwarding, shared: !whole },
  );
  const scus = new ScuService(state, {
    index,
    blobs,
    sender,
    log,
    onDeleted: (id) => forwarding.forgetScu(id),
  });
  let engine: Engine | undefined;
  const managedSources = new ManagedSourceService(state, {
    dicomHost: config.dicomHost,
    watchRoot: config.watchRoot ?? join(config.dataDir, 'watched'),
    dataDir: config.dataDir,
    staticSources: () => engine?.staticListeners() ?? { ports: [], folders: [] },
    log,
  });
  // A deleted source takes its tag filter associations and forwarding rules with it (Slicebox's SourceDeleted).
  managedSources.onSourceDeleted((source) => tagFilters.forgetSource(source));
  managedSources.onSourceDeleted((source) => forwarding.forgetSource(source));
  // A deleted box is also a deleted destination: the rules to it go too.
  boxes.onSourceDeleted((source) => tagFilters.forgetSource(source));
  boxes.onSourceDeleted(async (source) => {
    await forwarding.forgetSource(source);
    await forwarding.forgetBox(source.sourceId);
  });
  await mkdir(config.watchRoot ?? join(config.dataDir, 'watched'), { recursive: true });
  // C-FIND, C-MOVE and C-GET on the SCPs that offer them, and DICOMweb, over the same index and files.
  const queryRetrieve = new QueryRetrieveService({
    index,
    blobs,
    destination: (aeTitle) => scus.peerByAeTitle(aeTitle),
    decompress: (path, transferSyntaxUid) => renderPool.transcode(path, transferSyntaxUid),
    caseInsensitiveNames: !config.caseSensitiveNames,
  });
  const services: EngineServices = {
    config,
    index,
    blobs,
    state,
    quarantine: new Quarantine(join(config.dataDir, 'quarantine'), log, split?.quarantine),
    uploads: new UploadRegistry(),
    timings,
    seriesTypes,
    tagFilters,
    log,
    forwarding,
    managedSources,
    anonymization,
    boxes,
    queryRetrieve,
    ...(split ? { split: split.roles } : {}),
  };
  // The start-up check belongs to the processes that write the index (a front end or an API only reads).
  const report = runsWorker ? await reconcile(index, blobs) : { reindexed: 0, removedRows: 0 };
  if (report.reindexed || report.removedRows)
    oplog.info(
      { reindexed: report.reindexed, removedRows: report.removedRows },
      'start-up check: index and stored files made to agree',
    );
  engine = new Engine(services);
  try {
    // An API-only process runs no part of any pipeline.
    await engine.start(runsFrontend || runsWorker ? specs : []);
  } catch (err) {
    // A source that cannot start (a port taken) ends the start: release what was opened, then say why.
    await renderPool.close();
    await seriesTypes.stop();
    await index.close();
    await state.close();
    await blobs.close();
    await split?.close();
    throw err;
  }
  // The senders (outbox, boxes) run where the pipelines' stages run: in workers, or in the one process.
  if (runsWorker) await forwarding.start();
  // Files re-indexed by the start-up check were never classified (static types are registered by now).
  if (report.reindexed) seriesTypes.changed();
  // Images indexed before the Query/Retrieve columns existed get them, in the background.
  let stopping = false;
  const backfill = (
    runsWorker ? backfillQueryColumns(index, blobs, () => stopping) : Promise.resolve(0)
  ).then(
    (n) => n && oplog.info({ images: n }, 'Query/Retrieve columns filled for images indexed before them'),
    (err: Error) => oplog.warn({ err }, 'filling the Query/Retrieve columns stopped'),
  );
  const renderer = new RenderService({
    index,
    blobs,
    pool: renderPool,
    thumbnailDir: join(config.dataDir, 'thumbnails'),
  });
  const app = createApp({
    index,
    blobs,
    engine,
    users,
    seriesTypes,
    tagFilters,
    log,
    scus,
    forwarding,
    managedSources,
    exportSets: new ExportSetService(state, { ttlSecs: config.exportSetTtlSecs }),
    anonymization,
    boxes,
    version: PACKAGE_VERSION,
    httpPort: () => boundHttpPort,
    trustedProxies: config.trustedProxies,
    renderer,
    queryRetrieve,
    publicUrl: config.publicUrl,
  });
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: config.httpHost, port: config.httpPort }, () => resolve(s));
    s.once('error', reject);
  });
  const address = server.address();
  const httpPort = typeof address === 'object' && address ? address.port : config.httpPort;
  boundHttpPort = httpPort;
  // Box connections push outgoing images and pull incoming ones into `box_incoming`: where the sources run.
  if (runsFrontend) await boxes.start();
  // Processes that share the state store follow each other's changes: rules, filters and types are read
  // again, SCPs, watches and boxes created or deleted elsewhere are opened or closed here.
  const follow = split
    ? setInterval(() => {
        forwarding.refresh();
        tagFilters.refresh();
        seriesTypes.refresh();
        void managedSources.resync().catch((err: Error) => oplog.warn({ err }, 'following managed sources'));
        void boxes.resync().catch((err: Error) => oplog.warn({ err }, 'following boxes'));
      }, 1_000)
    : undefined;
  follow?.unref();
  oplog.info(
    {
      version: PACKAGE_VERSION,
      aeTitle: config.aeTitle,
      http: `http://${config.httpHost}:${httpPort}`,
      webUi: `http://${config.httpHost}:${httpPort}/`,
      dicom: `${config.dicomHost}:${config.dicomPort}`,
      dataDir: config.dataDir,
      pipelines: specs.map((s) => s.name),
      role: [...roles].join(','),
      ...(split ? { bus: split.roles.bus.describe } : {}),
    },
    'Sluice started',
  );
  return {
    config,
    engine,
    server,
    httpPort,
    async stop() {
      oplog.info('stopping');
      stopping = true;
      clearInterval(follow);
      await backfill;
      await new Promise<void>((r) => server.close(() => r()));
      await boxes.stop();
      const interrupted = await engine.stop();
      await forwarding.stop();
      await renderPool.close();
      await seriesTypes.stop();
      // Nothing was cut off in flight: index and files agree, and the next start need not check them.
      if (!interrupted) await index.markConsistent();
      await index.close();
      await state.close();
      await blobs.close();
      await split?.close();
    },
  };
}

/** Processes that share work must share what they store: files in S3, the index and the state on servers. */
function requireSharedStores(config: EngineConfig): void {
  const missing = [
    ...(config.blobs ? [] : ['SLUICE_BLOBS (s3://bucket/prefix)']),
    ...(config.index ? [] : ['SLUICE_INDEX (ClickHouse)']),
    ...(config.state ? [] : ['SLUICE_STATE (PostgreSQL)']),
  ];
  if (missing.length)
    throw new ConfigError(
      `SLUICE_ROLE ${(config.roles ?? []).join(',')}: processes that share the work must share the stores; set ${missing.join(', ')}`,
    );
}

/** The bus and the incoming area of a process that runs part of each pipeline. */
async function openSplit(
  config: EngineConfig,
  frontend: boolean,
  worker: boolean,
): Promise<{ roles: BusRoles; quarantine: BlobStore; close(): Promise<void> }> {
  const { openKafkaBus } = await import('./storage/kafka-bus.js');
  const { openS3BlobStore } = await import('./storage/s3-blob-store.js');
  const role = [frontend && 'frontend', worker && 'worker'].filter(Boolean).join('+') || 'api';
  const bus = await openKafkaBus({
    url: config.bus!,
    partitions: config.busPartitions,
    clientId: `sluice-${role}-${hostname()}-${process.pid}`,
  });
  // Beside the stored files, each in a prefix of its own (the stored keys never list them).
  const area = (name: string) =>
    openS3BlobStore({ location: { ...config.blobs!, prefix: `${config.blobs!.prefix}${name}/` } });
  const [incoming, quarantine] = await Promise.all([area('incoming'), area('quarantine')]).catch(
    async (err: unknown) => {
      await bus.close();
      throw err;
    },
  );
  return {
    roles: { bus, incoming, frontend, worker, replyTimeoutMs: config.busReplyTimeoutMs ?? 60_000 },
    quarantine,
    async close() {
      await bus.close();
      await incoming.close();
      await quarantine.close();
    },
  };
}

/** `http://host:port` for the address the API binds; a wildcard address gives the machine's name. */
function defaultPublicUrl(host: string, port: number): string {
  const name = host === '0.0.0.0' || host === '::' ? hostname() : host;
  return `http://${name.includes(':') ? `[${name}]` : name}:${port}`;
}

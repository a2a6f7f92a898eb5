import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Hono } from 'hono';
import { StageTimings } from '../../src/pipeline/stage-timings.js';
import { createApp } from '../../src/api/app.js';
import type { AuthEnv } from '../../src/api/auth.js';
import { openSqliteIndex } from '../../src/storage/sqlite-index.js';
import { openClickHouseIndex } from '../../src/storage/clickhouse-index/index.js';
import { loadConfig, type EngineConfig } from '../../src/config.js';
import { Engine } from '../../src/pipeline/engine.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import type { MetadataIndex } from '../../src/storage/metadata-index.js';
import type { StateStore } from '../../src/storage/state-store.js';
import { Quarantine } from '../../src/pipeline/quarantine.js';
import { UploadRegistry } from '../../src/pipeline/services.js';
import { UserService } from '../../src/users/service.js';
import { TagFilterService } from '../../src/tag-filters/service.js';
import { SeriesTypeService } from '../../src/series-types/service.js';
import { ManagedSourceService } from '../../src/managed-sources/service.js';
import { LogService } from '../../src/log/service.js';
import { ScuService } from '../../src/forwarding/scus.js';
import { ForwardingService } from '../../src/forwarding/service.js';
import { DEFAULT_FORWARDING } from '../../src/config.js';
import { dimseSender } from '../../src/dimse/scu/dimse-sender.js';
import { ExportSetService } from '../../src/export/service.js';
import { AnonymizationService } from '../../src/anonymization/service.js';
import { BoxService } from '../../src/boxes/service.js';
import { QueryRetrieveService } from '../../src/dimse/qr/service.js';
import { transcodeFile } from '../../src/render/transcode.js';
import { openTestBlobStore } from './blobs.js';
import { testIndexUrl } from './index-engines.js';
import { openTestState } from './state-engines.js';

export const ADMIN = { user: 'admin', password: 'secret' };

export const basic = (user: string, password: string) => ({
  Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

/** The bindings @hono/node-server gives a request, reduced to what the API reads: the peer's address. */
export const from = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } });

export interface TestApp {
  app: Hono<AuthEnv>;
  engine: Engine;
  users: UserService;
  state: StateStore;
  seriesTypes: SeriesTypeService;
  tagFilters: TagFilterService;
  managedSources: ManagedSourceService;
  boxes: BoxService;
  index: MetadataIndex;
  blobs: BlobStore;
  dir: string;
  /** The test's clock (ms epoch); advance it to expire sessions and throttling windows. */
  clock: { now: number };
  /** Closes the state store and opens it again with a new app, as a restart does. */
  restart(options?: { adminPassword?: string }): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * The API app on real adapters: SQLite state store, SQLite index and files in a temp dir, or in the scale
 * project PostgreSQL, ClickHouse and S3; and an engine without pipelines, with the superuser admin/secret and
 * an injected clock. For app.request() tests.
 */
export async function createTestApp(
  options: {
    sessionTimeoutSecs?: number;
    trustedProxies?: string[];
    /** Keep the index in a file, as the engine does (benchmarks), rather than in memory. */
    indexOnDisk?: boolean;
    /** Engine configuration beyond the defaults (the operations routes read it). */
    config?: Partial<EngineConfig>;
  } = {},
): Promise<TestApp> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-app-'));
  const clock = { now: Date.UTC(2026, 0, 1) };
  const indexUrl = testIndexUrl(dir);
  const index = indexUrl
    ? await openClickHouseIndex({ url: indexUrl })
    : openSqliteIndex(options.indexOnDisk ? join(dir, 'index.sqlite') : ':memory:');
  const blobs = await openTestBlobStore(dir);
  const open = async (adminPassword = ADMIN.password) => {
    const state = await openTestState(dir);
    const users = new UserService(state, {
      sessionTimeoutSecs: options.sessionTimeoutSecs ?? 3600,
      now: () => clock.now,
    });
    await users.ensureSuperuser(ADMIN.user, adminPassword);
    const seriesTypes = new SeriesTypeService(state, index, blobs, {});
    const tagFilters = new TagFilterService(state);
    const log = new LogService(state, () => clock.now);
    const sender = dimseSender('SLUICE', { timeoutMs: 5000 });
    const forwarding = new ForwardingService(state, { index, blobs, sender, log }, DEFAULT_FORWARDING);
    const scus = new ScuService(state, { index, blobs, sender, log });
    const managedSources = new ManagedSourceService(state, {
      dicomHost: '127.0.0.1',
      watchRoot: join(dir, 'watched'),
      dataDir: dir,
      staticSources: () => ({ ports: [], folders: [] }),
    });
    managedSources.onSourceDeleted((source) => tagFilters.forgetSource(source));
    const exportSets = new ExportSetService(state, { ttlSecs: 6 * 3600, now: () => clock.now });
    const anonymization = new AnonymizationService(Buffer.alloc(32, 7), state, {
      index,
      blobs,
      scratchDir: join(dir, 'anonymization-tmp'),
    });
    const boxes = new BoxService(
      state,
      index,
      blobs,
      async (file, request) => (await anonymization.anonymize(file, request)).parts,
      { publicApiUrl: () => 'http://127.0.0.1:5000/api' },
    );
    const queryRetrieve = new QueryRetrieveService({
      index,
      blobs,
      destination: (aeTitle) => scus.peerByAeTitle(aeTitle),
      decompress: transcodeFile,
      caseInsensitiveNames: true,
    });
    // No pipeline runs here: the engine serves `/api/pipelines` and answers uploads with 503.
    const engine = new Engine({
      config: { ...loadConfig({ SLUICE_DATA_DIR: dir }), ...options.config },
      index,
      blobs,
      state,
      quarantine: new Quarantine(join(dir, 'quarantine')),
      uploads: new UploadRegistry(),
      timings: new StageTimings(),
      seriesTypes,
      tagFilters,
      log,
      forwarding,
      managedSources,
      anonymization,
      boxes,
      queryRetrieve,
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
      exportSets,
      anonymization,
      boxes,
      version: 'test',
      trustedProxies: options.trustedProxies,
      queryRetrieve,
    });
    return { state, users, seriesTypes, tagFilters, managedSources, boxes, app, engine };
  };
  const t: TestApp = {
    ...(await open()),
    index,
    blobs,
    dir,
    clock,
    async restart({ adminPassword } = {}) {
      await t.seriesTypes.stop();
      await t.state.close();
      Object.assign(t, await open(adminPassword));
    },
    async cleanup() {
      await t.seriesTypes.stop();
      await t.state.close();
      await index.close();
      await blobs.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return t;
}

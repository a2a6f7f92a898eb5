/**
 * The metadata index in ClickHouse (`SLUICE_INDEX=http://user:password@host:8123/database`), with the SQLite
 * index's entities, keys and query semantics. Runs on ClickHouse 18.16 (Debian's: no query parameters, so
 * every value goes through literal.ts) and on current releases (the tests also run it on chdb).
 *
 * Tables, versions and tombstones: schema.ts; SELECTs: queries.ts; upserts in batches and deletions:
 * writes.ts; series labels: labels.ts; ids: ids.ts (single writer until ids come from PostgreSQL).
 */
import type { SourceRef, SourceType } from '../../pipeline/origin.js';
import type {
  FlatSeries,
  Image,
  IndexCounts,
  Level,
  ListOptions,
  MetadataIndex,
  MetadataQuery,
  QueryFilters,
  Source,
} from '../metadata-index.js';
import { checkPaging } from '../sqlite-index-queries.js';
import {
  CHAIN,
  DEPTH,
  entity,
  flatEntity,
  IMAGES,
  type Row,
  type TableName,
} from '../sqlite-index-tables.js';
import { clickHouseFind } from './find.js';
import { connectClickHouse, type ClickHouseDb } from './client.js';
import { parseClickHouseUrl } from './location.js';
import { blockIdAllocator, ID_LEVELS, processIdAllocator, type IdBlocks, type IdLevel } from './ids.js';
import { clickHouseLabels } from './labels.js';
import { int, intList, str } from './literal.js';
import { Selection, Tables } from './queries.js';
import { MIGRATIONS, SCHEMA_TABLE, SCHEMA_VERSION } from './schema.js';
import { batchedUpserts, HierarchyCache, imagesBySop, serialiser, versionClock, Writer } from './writes.js';

export interface ClickHouseIndexOptions {
  /** `http://user:password@host:8123/database`. */
  url: string;
  /** An injected `@clickhouse/client` connection (chdb in the tests) instead of HTTP to `url`'s host. */
  connection?: Parameters<typeof connectClickHouse>[1];
  /**
   * Where ids come from when several processes write the index (PostgreSQL sequences); the index closes it.
   * Without it, ids are counted in this process: one writer only.
   */
  ids?: IdBlocks;
}

export type ClickHouseIndex = MetadataIndex;

async function migrate(db: ClickHouseDb, database: string): Promise<void> {
  await db.exec(`CREATE DATABASE IF NOT EXISTS "${database}"`);
  await db.exec(SCHEMA_TABLE(database));
  const [{ version }] = await db.rows<{ version: number }>(
    `SELECT max("version") AS "version" FROM "${database}"."SluiceSchema"`,
  );
  const current = Number(version);
  if (current > SCHEMA_VERSION)
    throw new Error(
      `The ClickHouse index ${database} has schema version ${current}, newer than this Sluice knows (${SCHEMA_VERSION}): upgrade Sluice, or point SLUICE_INDEX at another database`,
    );
  for (let v = current + 1; v <= SCHEMA_VERSION; v++) {
    for (const statement of MIGRATIONS[v - 1]) await db.exec(statement(database));
    await db.exec(
      `INSERT INTO "${database}"."SluiceSchema" ("version", "appliedAt") VALUES (${int(v)}, now())`,
    );
  }
}

/**
 * Opens the index: reaches the server (a clear error naming ClickHouse and the endpoint when it cannot),
 * creates or upgrades the schema, and seeds the id allocator.
 */
export async function openClickHouseIndex(options: ClickHouseIndexOptions): Promise<ClickHouseIndex> {
  const location = parseClickHouseUrl(options.url);
  const db = connectClickHouse(location, options.connection);
  try {
    await migrate(db, location.database);
  } catch (err) {
    await db.close().catch(() => undefined);
    if ((err as { code?: string }).code === 'STORAGE.UNAVAILABLE')
      throw new Error(
        `Cannot reach the ClickHouse index at ${location.endpoint}: ${(err as Error).cause ?? err}`,
        { cause: err },
      );
    throw err;
  }
  const t = new Tables(location.database);
  const maxId = async (table: IdLevel) =>
    Number((await db.rows<{ id: number }>(`SELECT max("id") AS "id" FROM ${t.raw(table)}`))[0].id);
  const seeds = Object.fromEntries(
    await Promise.all(ID_LEVELS.map(async (l) => [l, await maxId(l)])),
  ) as Record<IdLevel, number>;
  // Ids from blocks shared by every process (PostgreSQL sequences), else counted in this one.
  await options.ids?.raise(seeds);
  const ids = options.ids ? blockIdAllocator(options.ids) : processIdAllocator(seeds);
  const w = new Writer(db, t, ids, versionClock());
  const serial = serialiser();
  const labels = clickHouseLabels(w, serial);
  let lastFailure: string | undefined;
  let probe: NodeJS.Timeout | undefined;
  const recovered = () => {
    lastFailure = undefined;
    clearInterval(probe);
    probe = undefined;
  };
  /** While the server does not answer, it is asked every second, so that health recovers without traffic. */
  const failed = (message: string) => {
    lastFailure = message;
    probe ??= setInterval(() => void db.rows('SELECT 1').then(recovered, () => undefined), 1000).unref();
  };

  const watched =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        const result = await fn(...args);
        if (lastFailure) recovered();
        return result;
      } catch (err) {
        if ((err as { code?: string }).code === 'STORAGE.UNAVAILABLE') failed((err as Error).message);
        throw err;
      }
    };

  const rowsOf = (
    selection: Selection,
    order: { orderBy?: string; orderAscending?: boolean },
    start: number,
    count: number,
  ) => db.rows<Row>(selection.sql(order, start, count));
  const toEntities = (level: Level, rows: Row[]): any[] =>
    level === 'flatseries' ? rows.map(flatEntity) : rows.map((row) => entity(CHAIN[DEPTH[level]], row));

  const list = async (level: Level, opts: ListOptions): Promise<any[]> => {
    checkPaging(opts.startIndex, opts.count);
    const selection = new Selection(t, level);
    if (opts.parentId !== undefined) selection.parent(opts.parentId);
    selection.filter(opts.filter).filters(opts.filters);
    return toEntities(level, await rowsOf(selection, opts, opts.startIndex, opts.count));
  };
  const query = async (level: Level, q: MetadataQuery): Promise<any[]> => {
    checkPaging(q.startIndex, q.count);
    const selection = new Selection(t, level);
    for (const p of q.queryProperties) selection.property(p);
    selection.filters(q.filters);
    return toEntities(level, await rowsOf(selection, q.order ?? {}, q.startIndex, q.count));
  };
  const one = async <T>(table: TableName, id: number): Promise<T | undefined> => {
    if (!Number.isSafeInteger(id)) return undefined;
    const [row] = await db.rows<Row>(`SELECT * FROM ${t.live(table, `"id" = ${int(id)}`)}`);
    return row
      ? (entity(
          CHAIN.find((s) => s.name === table)!,
          row,
        ) as T)
      : undefined;
  };
  const imagesUnder = async (depth: number, id: number, filters?: QueryFilters): Promise<Image[]> => {
    const selection = new Selection(t, 'images').under(depth, id).filters(filters);
    return toEntities('images', await rowsOf(selection, {}, 0, -1));
  };
  const sourceOf = async (seriesId: number) =>
    (
      await db.rows<{ sourceType: SourceType; sourceName: string; sourceId: number }>(
        `SELECT "sourceType", "sourceName", "sourceId" FROM ${t.live('SeriesSources', `"id" = ${int(seriesId)}`)}`,
      )
    )[0];

  const cache = new HierarchyCache();

  /** Removes series left without images, then their studies and patients if they are left empty too. */
  const removeIfEmpty = async (seriesIds: number[]): Promise<void> => {
    const ids = [...new Set(seriesIds)];
    if (!ids.length) return;
    cache.clear();
    const emptyOf = async (parentKey: string, child: TableName, parents: number[]) => {
      if (!parents.length) return [];
      const used = new Set(
        (
          await db.rows<{ p: number }>(
            `SELECT DISTINCT "${parentKey}" AS "p" FROM ${t.keyed(child, parentKey, intList(parents))}`,
          )
        ).map((r) => Number(r.p)),
      );
      return parents.filter((id) => !used.has(id));
    };
    const series = await db.rows<Row>(`SELECT * FROM ${t.live('Series', `"id" IN ${intList(ids)}`)}`);
    const emptySeries = await emptyOf(
      'seriesId',
      'Images',
      series.map((s) => Number(s.id)),
    );
    if (!emptySeries.length) return;
    const gone = series.filter((s) => emptySeries.includes(Number(s.id)));
    await labels.forgetSeries(emptySeries);
    await w.tombstone('SeriesSources', ['id'], gone);
    await w.remove('Series', gone);
    const studyIds = [...new Set(gone.map((s) => Number(s.studyId)))];
    const emptyStudies = await emptyOf('studyId', 'Series', studyIds);
    if (!emptyStudies.length) return;
    const studies = await db.rows<Row>(
      `SELECT * FROM ${t.live('Studies', `"id" IN ${intList(emptyStudies)}`)}`,
    );
    await w.remove('Studies', studies);
    const emptyPatients = await emptyOf('patientId', 'Studies', [
      ...new Set(studies.map((s) => Number(s.patientId))),
    ]);
    await w.tombstone(
      'Patients',
      ['id'],
      emptyPatients.map((id) => ({ id })),
    );
  };

  const upsert = batchedUpserts(w, serial, removeIfEmpty, cache);

  const index: ClickHouseIndex = {
    ...labels,
    upsert,
    imageBySopInstanceUid: async (sop) => {
      const [row] = await imagesBySop(w, [sop]);
      return row ? (entity(IMAGES, row) as unknown as Image) : undefined;
    },
    list: list as MetadataIndex['list'],
    query: query as MetadataIndex['query'],
    patient: (id) => one('Patients', id),
    study: (id) => one('Studies', id),
    series: (id) => one('Series', id),
    image: (id) => one('Images', id),
    flatSeries: async (seriesId): Promise<FlatSeries | undefined> => {
      if (!Number.isSafeInteger(seriesId)) return undefined;
      const selection = new Selection(t, 'flatseries').property({
        propertyName: 'id',
        operator: '=',
        propertyValue: String(seriesId),
      });
      const [row] = await rowsOf(selection, {}, 0, 1);
      return row ? flatEntity(row) : undefined;
    },
    seriesSource: async (seriesId): Promise<SourceRef | undefined> => {
      const row = await sourceOf(seriesId);
      return row ? { sourceType: row.sourceType, sourceId: Number(row.sourceId) } : undefined;
    },
    seriesSourceWithName: async (seriesId): Promise<Source | undefined> => {
      const row = await sourceOf(seriesId);
      return row
        ? { sourceType: row.sourceType, sourceName: row.sourceName, sourceId: Number(row.sourceId) }
        : undefined;
    },
    imagesOfPatient: (patientId, filters) => imagesUnder(0, patientId, filters),
    imagesOfStudy: (studyId, filters) => imagesUnder(1, studyId, filters),
    deleteImages: (ids) =>
      serial(async () => {
        const wanted = [...new Set(ids.filter((id) => Number.isSafeInteger(id)))];
        if (!wanted.length) return [];
        const rows = await db.rows<{ id: number; seriesId: number; sopInstanceUID: string }>(
          `SELECT "id", "seriesId", "sopInstanceUID" FROM ${t.live('Images', `"id" IN ${intList(wanted)}`)}`,
        );
        const existed = new Set(rows.map((r) => Number(r.id)));
        await w.remove('Images', rows);
        await removeIfEmpty(rows.map((r) => Number(r.seriesId)));
        // In the order asked, once each, as the SQLite index answers.
        return wanted.filter((id) => existed.has(id));
      }),
    allImageIds: async () =>
      (await db.rows<{ id: number }>(`SELECT "id" FROM ${t.live('Images')} ORDER BY "id"`)).map((r) =>
        Number(r.id),
      ),
    imageKeys: async () =>
      new Map(
        (
          await db.rows<{ id: number; sop: string }>(
            `SELECT "id", "sopInstanceUID" AS "sop" FROM ${t.live('Images')}`,
          )
        ).map((r) => [r.sop, Number(r.id)]),
      ),
    counts: async (): Promise<IndexCounts> => {
      const count = async (table: TableName) =>
        Number((await db.rows<{ n: number }>(`SELECT count() AS "n" FROM ${t.live(table)}`))[0].n);
      const [patients, studies, series, images] = await Promise.all(CHAIN.map((spec) => count(spec.name)));
      return { patients, studies, series, images };
    },
    markConsistent: () =>
      serial(() =>
        w.insert('IndexState', ['key', 'value'], [{ key: 'consistent', value: new Date().toISOString() }]),
      ),
    takeConsistent: () =>
      serial(async () => {
        const [row] = await db.rows(`SELECT "key" FROM ${t.live('IndexState')} WHERE "key" = 'consistent'`);
        if (!row) return false;
        await w.tombstone('IndexState', ['key'], [{ key: 'consistent' }]);
        return true;
      }),
    find: clickHouseFind(db, t),
    // Every ClickHouse index was created with the Query/Retrieve columns: nothing to fill.
    imagesWithoutQueryColumns: async () => [],
    queryColumnsFilled: async () => undefined,
    close: () =>
      serial(async () => {
        clearInterval(probe);
        await options.ids?.close();
        return db.close();
      }),
    problem: () => (lastFailure ? lastFailure : undefined),
  };
  for (const [name, value] of Object.entries(index))
    if (typeof value === 'function' && name !== 'problem')
      (index as unknown as Record<string, unknown>)[name] = watched(
        value as (...a: unknown[]) => Promise<unknown>,
      );
  return index;
}

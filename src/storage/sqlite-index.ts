/**
 * The metadata index in SQLite, with Slicebox's hierarchy and keys (tables and entities:
 * sqlite-index-tables.ts). This file opens the database and assembles the index from the ingest path
 * (sqlite-index-writes.ts) and the reads, whose SELECTs sqlite-index-queries.ts builds.
 *
 * SQL is built from whitelisted identifiers only; every value a client sends is a bound parameter.
 */
import Database from 'better-sqlite3';
import type { SourceRef, SourceType } from '../pipeline/origin.js';
import { migrateSeriesLabels, SERIES_LABELS_SCHEMA, seriesLabels } from '../series-types/sqlite-labels.js';
import type {
  Image,
  IndexCounts,
  Level,
  ListOptions,
  MetadataIndex,
  MetadataQuery,
  Patient,
  QueryFilters,
  Series,
  Source,
  Study,
} from './metadata-index.js';
import { checkPaging, Selection } from './sqlite-index-queries.js';
import {
  CHAIN,
  column,
  DEPTH,
  entity,
  flatEntity,
  IMAGES,
  migrateQueryColumns,
  rowByIdStatements,
  SCHEMA,
  type Row,
  type TableName,
} from './sqlite-index-tables.js';
import { indexWrites } from './sqlite-index-writes.js';
import { indexFind } from './sqlite-index-find.js';
import { migrateTextSearch } from './sqlite-index-text.js';
import { settled, type Synchronous } from './settled.js';
import { indexReads } from './sqlite-index-reads.js';
import { IndexReaders } from './sqlite-index-readers.js';

const STATEMENT_CACHE_SIZE = 500;

/**
 * `readers`: worker threads that answer the metadata listings and queries (`list`, `query`) on connections of
 * their own, side by side with each other and with the event loop (WAL lets readers run beside the writer);
 * 0 answers them on the event loop's connection.
 */
export function openSqliteIndex(path: string, { readers = 0 }: { readers?: number } = {}): MetadataIndex {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);
  migrateQueryColumns(db);
  migrateTextSearch(db);
  db.exec(SERIES_LABELS_SCHEMA);
  migrateSeriesLabels(db);
  const labels = seriesLabels(db);

  const { prepared, rowsOf, toEntities, list, query } = indexReads(db);
  const reads = readers && readers > 0 && path !== ':memory:' ? new IndexReaders(path, readers) : undefined;

  const { upsert, deleteImages } = indexWrites(db, labels);
  const imageBySop = db.prepare<[string], Row>('SELECT * FROM "Images" WHERE "sopInstanceUID" = ?');
  const byId = rowByIdStatements(db);
  const sourceOf = db.prepare<[number], { sourceType: SourceType; sourceName: string; sourceId: number }>(
    'SELECT "sourceType", "sourceName", "sourceId" FROM "SeriesSources" WHERE "id" = ?',
  );
  const imageIds = db.prepare<[], number>('SELECT "id" FROM "Images" ORDER BY "id"').pluck();
  const counts = db.prepare<[], IndexCounts>(
    'SELECT (SELECT COUNT(*) FROM "Patients") AS patients, (SELECT COUNT(*) FROM "Studies") AS studies, ' +
      '(SELECT COUNT(*) FROM "Series") AS series, (SELECT COUNT(*) FROM "Images") AS images',
  );
  const imageKeys = db.prepare<[], [number, string]>('SELECT "id", "sopInstanceUID" FROM "Images"').raw();
  const toBackfill = db.prepare<[number], Row>(
    'SELECT "Images".* FROM "QueryColumnsBackfill" JOIN "Images" ON "Images"."id" = "QueryColumnsBackfill"."imageId" ORDER BY "imageId" LIMIT ?',
  );
  const backfilled = db.prepare<[number]>('DELETE FROM "QueryColumnsBackfill" WHERE "imageId" = ?');
  const markBackfilled = db.transaction((ids: number[]) => ids.forEach((id) => backfilled.run(id)));

  const one = <T>(table: TableName, id: number): T | undefined => {
    const row = byId[table].get(id);
    return row
      ? (entity(
          CHAIN.find((s) => s.name === table)!,
          row,
        ) as T)
      : undefined;
  };

  const imagesUnder = (condition: string, depth: number, id: number, filters?: QueryFilters): Image[] => {
    const selection = new Selection('images').add(condition, id).filters(filters);
    selection.needed.add(depth);
    return toEntities('images', rowsOf(selection, {}, 0, -1)) as Image[];
  };

  // better-sqlite3 works synchronously: every method does its work within the call and answers a settled promise.
  const index: Synchronous<Omit<MetadataIndex, 'problem'>> = {
    ...labels,
    upsert,
    imageBySopInstanceUid: (sopInstanceUid) => {
      const row = imageBySop.get(sopInstanceUid);
      return row ? (entity(IMAGES, row) as unknown as Image) : undefined;
    },
    list,
    query,
    patient: (id) => one<Patient>('Patients', id),
    study: (id) => one<Study>('Studies', id),
    series: (id) => one<Series>('Series', id),
    image: (id) => one<Image>('Images', id),
    flatSeries: (seriesId) => {
      const selection = new Selection('flatseries').add('"Series"."id" = ?', seriesId);
      const [row] = rowsOf(selection, {}, 0, 1);
      return row ? flatEntity(row) : undefined;
    },
    seriesSource: (seriesId): SourceRef | undefined => {
      const row = sourceOf.get(seriesId);
      return row ? { sourceType: row.sourceType, sourceId: row.sourceId } : undefined;
    },
    seriesSourceWithName: (seriesId): Source | undefined => {
      const row = sourceOf.get(seriesId);
      return row
        ? { sourceType: row.sourceType, sourceName: row.sourceName, sourceId: row.sourceId }
        : undefined;
    },
    imagesOfPatient: (patientId, filters) => imagesUnder('"Studies"."patientId" = ?', 1, patientId, filters),
    imagesOfStudy: (studyId, filters) => imagesUnder('"Series"."studyId" = ?', 2, studyId, filters),
    deleteImages,
    allImageIds: () => imageIds.all(),
    counts: () => counts.get()!,
    imageKeys: () => new Map(imageKeys.all().map(([id, sop]) => [sop, id])),
    markConsistent: () => {
      db.prepare("INSERT OR REPLACE INTO IndexState (key, value) VALUES ('consistent', ?)").run(
        new Date().toISOString(),
      );
      // The mark must survive what comes next: the index itself commits without a sync (WAL, NORMAL).
      db.pragma('wal_checkpoint(FULL)');
    },
    takeConsistent: () => {
      const taken = db.prepare("DELETE FROM IndexState WHERE key = 'consistent'").run().changes === 1;
      if (taken) db.pragma('wal_checkpoint(FULL)');
      return taken;
    },
    find: indexFind(prepared),
    imagesWithoutQueryColumns: (count) =>
      toBackfill.all(count).map((row) => entity(IMAGES, row) as unknown as Image),
    queryColumnsFilled: (ids) => markBackfilled(ids),
    close: () => db.close(),
  };
  const answered = settled<Omit<MetadataIndex, 'problem'>>(index);
  // A file beside the engine: nothing to reach.
  if (!reads) return { ...answered, problem: () => undefined };
  return {
    ...answered,
    list: ((level: Level, opts: ListOptions) => reads.run('list', level, opts)) as MetadataIndex['list'],
    query: ((level: Level, q: MetadataQuery) => reads.run('query', level, q)) as MetadataIndex['query'],
    close: async () => {
      await reads.close();
      db.close();
    },
    problem: () => undefined,
  };
}

/**
 * The ClickHouse index's tables and their migrations. Every table is a ReplacingMergeTree keyed like its
 * SQLite counterpart: a write inserts the whole row again with a higher `version`, a deletion inserts a
 * tombstone (`deleted = 1`), and reads see the current rows through `live()` (FINAL, tombstones left out), so
 * updates and deletions are visible at once without waiting for merges or mutations (asynchronous on 18.16).
 *
 * Schema versions are recorded in `SluiceSchema`; opening applies the missing ones in order (each statement
 * idempotent) and refuses a database whose schema is newer than this code.
 */
import { CHAIN, IMAGES, PATIENTS, SERIES, STUDIES, type TableSpec } from '../sqlite-index-tables.js';

/** A database name as `SLUICE_INDEX` may give it: a plain identifier. */
export const DATABASE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export type ClickHouseTable =
  | 'Patients'
  | 'Studies'
  | 'Series'
  | 'Images'
  | 'ImagesBySop'
  | 'SeriesSources'
  | 'SeriesSeriesTypes'
  | 'SeriesTags'
  | 'SeriesSeriesTags'
  | 'IndexState'
  | 'SluiceSchema';

/** Columns that hold numbers; every other column is a string. */
export const NUMERIC_COLUMNS = new Set([
  'id',
  'patientId',
  'studyId',
  'seriesId',
  'size',
  'createdAt',
  'sourceId',
  'seriesTypeId',
  'seriesTagId',
  'manual',
]);

const hierarchyTable = (spec: TableSpec) => {
  const strings = [...spec.attributes.map(([c]) => c), ...spec.queryAttributes.map(([c]) => c)];
  const internal = spec.internal.map((c) => `"${c}" ${NUMERIC_COLUMNS.has(c) ? 'UInt64' : 'String'}`);
  return (db: string) =>
    `CREATE TABLE IF NOT EXISTS "${db}"."${spec.name}" (` +
    [
      '"id" UInt64',
      ...(spec.parentKey ? [`"${spec.parentKey}" UInt64`] : []),
      ...strings.map((c) => `"${c}" String`),
      ...internal,
      '"version" UInt64',
      '"deleted" UInt8',
    ].join(', ') +
    ') ENGINE = ReplacingMergeTree("version") ORDER BY "id"';
};

/** The schema, one list of statements per version; a version's statements never change once released. */
export const MIGRATIONS: ReadonlyArray<ReadonlyArray<(db: string) => string>> = [
  [
    ...[PATIENTS, STUDIES, SERIES, IMAGES].map(hierarchyTable),
    // Images by SOP Instance UID (ingest's lookup): sorted by the UID, so that a lookup reads a granule.
    (db) =>
      `CREATE TABLE IF NOT EXISTS "${db}"."ImagesBySop" ("sopInstanceUID" String, "id" UInt64, "version" UInt64, "deleted" UInt8) ENGINE = ReplacingMergeTree("version") ORDER BY "sopInstanceUID"`,
    (db) =>
      `CREATE TABLE IF NOT EXISTS "${db}"."SeriesSources" ("id" UInt64, "sourceType" String, "sourceName" String, "sourceId" Int64, "version" UInt64, "deleted" UInt8) ENGINE = ReplacingMergeTree("version") ORDER BY "id"`,
    (db) =>
      `CREATE TABLE IF NOT EXISTS "${db}"."SeriesSeriesTypes" ("seriesId" UInt64, "seriesTypeId" Int64, "manual" UInt8, "version" UInt64, "deleted" UInt8) ENGINE = ReplacingMergeTree("version") ORDER BY ("seriesId", "seriesTypeId")`,
    (db) =>
      `CREATE TABLE IF NOT EXISTS "${db}"."SeriesTags" ("id" UInt64, "name" String, "version" UInt64, "deleted" UInt8) ENGINE = ReplacingMergeTree("version") ORDER BY "id"`,
    (db) =>
      `CREATE TABLE IF NOT EXISTS "${db}"."SeriesSeriesTags" ("seriesId" UInt64, "seriesTagId" UInt64, "version" UInt64, "deleted" UInt8) ENGINE = ReplacingMergeTree("version") ORDER BY ("seriesId", "seriesTagId")`,
    (db) =>
      `CREATE TABLE IF NOT EXISTS "${db}"."IndexState" ("key" String, "value" String, "version" UInt64, "deleted" UInt8) ENGINE = ReplacingMergeTree("version") ORDER BY "key"`,
  ],
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export const SCHEMA_TABLE = (db: string) =>
  `CREATE TABLE IF NOT EXISTS "${db}"."SluiceSchema" ("version" UInt32, "appliedAt" DateTime) ENGINE = MergeTree ORDER BY "version"`;

/** Columns written for each table, in the order of the INSERTs. */
export const WRITTEN_COLUMNS: Record<'Patients' | 'Studies' | 'Series' | 'Images', readonly string[]> =
  Object.fromEntries(
    CHAIN.map((spec) => [
      spec.name,
      [
        'id',
        ...(spec.parentKey ? [spec.parentKey] : []),
        ...spec.attributes.map(([c]) => c),
        ...spec.internal,
        ...spec.queryAttributes.map(([c]) => c),
      ],
    ]),
  ) as unknown as Record<'Patients' | 'Studies' | 'Series' | 'Images', readonly string[]>;

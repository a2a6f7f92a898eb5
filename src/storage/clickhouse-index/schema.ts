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
  | LookupTable
  | 'SeriesSources'
  | 'SeriesSeriesTypes'
  | 'SeriesTags'
  | 'SeriesSeriesTags'
  | 'IndexState'
  | 'SluiceSchema';

export type LookupTable =
  'ImagesBySop' | 'StudiesByPatient' | 'SeriesByStudy' | 'ImagesBySeries' | 'StudiesByUid' | 'SeriesByUid';

/**
 * A lookup table: the ids of a hierarchy table's rows sorted by one of its columns (`key`), so that reading
 * the rows with given keys (a parent's children, a UID's rows) reads a few granules of the lookup, then the
 * rows by id, instead of the whole table through FINAL. A lookup row is inserted with its row when the row is
 * created or its key changes, and tombstoned when the row is deleted or its key changes (writes.ts); readers
 * still check the key on the rows they read, so a lookup row written late or not yet tombstoned changes
 * nothing but the cost.
 */
export interface LookupSpec {
  table: LookupTable;
  source: 'Studies' | 'Series' | 'Images';
  key: string;
}

export const LOOKUPS: readonly LookupSpec[] = [
  { table: 'ImagesBySop', source: 'Images', key: 'sopInstanceUID' },
  { table: 'StudiesByPatient', source: 'Studies', key: 'patientId' },
  { table: 'SeriesByStudy', source: 'Series', key: 'studyId' },
  { table: 'ImagesBySeries', source: 'Images', key: 'seriesId' },
  { table: 'StudiesByUid', source: 'Studies', key: 'studyInstanceUID' },
  { table: 'SeriesByUid', source: 'Series', key: 'seriesInstanceUID' },
];

/** The lookup of `source` sorted by `key`. */
export const lookupOf = (source: string, key: string): LookupSpec | undefined =>
  LOOKUPS.find((l) => l.source === source && l.key === key);

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
  // Version 2: the lookups by parent and by UID, filled from the current rows (a lookup row that is already
  // there is written again with the same key: filling twice changes nothing).
  LOOKUPS.filter((l) => l.table !== 'ImagesBySop').flatMap((l) => [
    (db: string) =>
      `CREATE TABLE IF NOT EXISTS "${db}"."${l.table}" ("${l.key}" ${NUMERIC_COLUMNS.has(l.key) ? 'UInt64' : 'String'}, "id" UInt64, "version" UInt64, "deleted" UInt8) ENGINE = ReplacingMergeTree("version") ORDER BY ("${l.key}", "id")`,
    (db: string) =>
      `INSERT INTO "${db}"."${l.table}" ("${l.key}", "id", "version", "deleted") SELECT "${l.key}", "id", "version", 0 FROM "${db}"."${l.source}" FINAL WHERE "deleted" = 0`,
  ]),
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

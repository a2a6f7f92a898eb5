/**
 * The metadata index's tables in SQLite, with Slicebox's hierarchy and keys: a patient is (PatientName,
 * PatientID), a study (patient, StudyInstanceUID), a series (study, SeriesInstanceUID), an image (series,
 * SOPInstanceUID), and a SOP instance is indexed once. Columns carry the JSON field names, so a query's
 * property name is a column name, and a row becomes its JSON entity here.
 *
 * These specs are the fixed lists every identifier in the index's SQL comes from.
 */
import type Database from 'better-sqlite3';
import type { FlatSeries, Level, Patient, Series, Study } from './metadata-index.js';

export type TableName = 'Patients' | 'Studies' | 'Series' | 'Images';

export interface TableSpec {
  readonly name: TableName;
  /** Column holding the parent level's id. */
  readonly parentKey?: 'patientId' | 'studyId' | 'seriesId';
  /** DICOM-derived string columns (JSON `{ value }`) and the keyword each is read from. */
  readonly attributes: ReadonlyArray<readonly [column: string, keyword: string]>;
  /** Stored, queryable, but not part of the JSON entity. */
  readonly internal: readonly string[];
  /**
   * DICOM-derived string columns that Query/Retrieve and DICOMweb match and return, kept out of Slicebox's
   * JSON entity; added to older databases by `migrateQueryColumns`.
   */
  readonly queryAttributes: ReadonlyArray<readonly [column: string, keyword: string]>;
}

export const PATIENTS: TableSpec = {
  name: 'Patients',
  attributes: [
    ['patientName', 'PatientName'],
    ['patientID', 'PatientID'],
    ['patientBirthDate', 'PatientBirthDate'],
    ['patientSex', 'PatientSex'],
  ],
  internal: [],
  queryAttributes: [],
};
export const STUDIES: TableSpec = {
  name: 'Studies',
  parentKey: 'patientId',
  attributes: [
    ['studyInstanceUID', 'StudyInstanceUID'],
    ['studyDescription', 'StudyDescription'],
    ['studyDate', 'StudyDate'],
    ['studyID', 'StudyID'],
    ['accessionNumber', 'AccessionNumber'],
    ['patientAge', 'PatientAge'],
  ],
  internal: [],
  queryAttributes: [
    ['studyTime', 'StudyTime'],
    ['referringPhysicianName', 'ReferringPhysicianName'],
  ],
};
export const SERIES: TableSpec = {
  name: 'Series',
  parentKey: 'studyId',
  attributes: [
    ['seriesInstanceUID', 'SeriesInstanceUID'],
    ['seriesDescription', 'SeriesDescription'],
    ['seriesDate', 'SeriesDate'],
    ['modality', 'Modality'],
    ['protocolName', 'ProtocolName'],
    ['bodyPartExamined', 'BodyPartExamined'],
    ['manufacturer', 'Manufacturer'],
    ['stationName', 'StationName'],
    ['frameOfReferenceUID', 'FrameOfReferenceUID'],
  ],
  internal: [],
  queryAttributes: [
    ['seriesNumber', 'SeriesNumber'],
    ['seriesTime', 'SeriesTime'],
    ['performedProcedureStepStartDate', 'PerformedProcedureStepStartDate'],
    ['performedProcedureStepStartTime', 'PerformedProcedureStepStartTime'],
  ],
};
export const IMAGES: TableSpec = {
  name: 'Images',
  parentKey: 'seriesId',
  attributes: [
    ['sopInstanceUID', 'SOPInstanceUID'],
    ['imageType', 'ImageType'],
    ['instanceNumber', 'InstanceNumber'],
  ],
  internal: ['sopClassUID', 'transferSyntaxUID', 'size', 'createdAt'],
  queryAttributes: [
    ['rows', 'Rows'],
    ['columns', 'Columns'],
    ['numberOfFrames', 'NumberOfFrames'],
    ['bitsAllocated', 'BitsAllocated'],
  ],
};

/** The hierarchy top-down; a table's depth is its index. */
export const CHAIN = [PATIENTS, STUDIES, SERIES, IMAGES] as const;
export const DEPTH: Record<Level, number> = { patients: 0, studies: 1, series: 2, images: 3, flatseries: 2 };
export const FLAT_PREFIX = ['p_', 'st_', 'se_'] as const;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS Patients (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  patientName TEXT NOT NULL DEFAULT '',
  patientID TEXT NOT NULL DEFAULT '',
  patientBirthDate TEXT NOT NULL DEFAULT '',
  patientSex TEXT NOT NULL DEFAULT '',
  UNIQUE (patientName, patientID)
);
CREATE TABLE IF NOT EXISTS Studies (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  patientId INTEGER NOT NULL REFERENCES Patients (id),
  studyInstanceUID TEXT NOT NULL DEFAULT '',
  studyDescription TEXT NOT NULL DEFAULT '',
  studyDate TEXT NOT NULL DEFAULT '',
  studyID TEXT NOT NULL DEFAULT '',
  accessionNumber TEXT NOT NULL DEFAULT '',
  patientAge TEXT NOT NULL DEFAULT '',
  UNIQUE (patientId, studyInstanceUID)
);
CREATE TABLE IF NOT EXISTS Series (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  studyId INTEGER NOT NULL REFERENCES Studies (id),
  seriesInstanceUID TEXT NOT NULL DEFAULT '',
  seriesDescription TEXT NOT NULL DEFAULT '',
  seriesDate TEXT NOT NULL DEFAULT '',
  modality TEXT NOT NULL DEFAULT '',
  protocolName TEXT NOT NULL DEFAULT '',
  bodyPartExamined TEXT NOT NULL DEFAULT '',
  manufacturer TEXT NOT NULL DEFAULT '',
  stationName TEXT NOT NULL DEFAULT '',
  frameOfReferenceUID TEXT NOT NULL DEFAULT '',
  UNIQUE (studyId, seriesInstanceUID)
);
CREATE TABLE IF NOT EXISTS Images (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  seriesId INTEGER NOT NULL REFERENCES Series (id),
  sopInstanceUID TEXT NOT NULL,
  imageType TEXT NOT NULL DEFAULT '',
  instanceNumber TEXT NOT NULL DEFAULT '',
  sopClassUID TEXT NOT NULL DEFAULT '',
  transferSyntaxUID TEXT NOT NULL DEFAULT '',
  size INTEGER NOT NULL DEFAULT 0,
  createdAt INTEGER NOT NULL,
  UNIQUE (seriesId, sopInstanceUID)
);
CREATE UNIQUE INDEX IF NOT EXISTS Images_sopInstanceUID ON Images (sopInstanceUID);
-- What Slicebox clients and C-FIND look up and order by, so that it stays flat as the index grows.
CREATE INDEX IF NOT EXISTS Patients_patientID ON Patients (patientID);
CREATE INDEX IF NOT EXISTS Studies_studyInstanceUID ON Studies (studyInstanceUID);
CREATE INDEX IF NOT EXISTS Studies_studyDate ON Studies (studyDate);
CREATE INDEX IF NOT EXISTS Series_seriesInstanceUID ON Series (seriesInstanceUID);
CREATE INDEX IF NOT EXISTS Series_modality ON Series (modality);
-- Ids alone, in order: a deep page (startIndex 500,000) skips a narrow index, not the table's wide rows (10x).
CREATE INDEX IF NOT EXISTS Images_id ON Images (id);
CREATE INDEX IF NOT EXISTS Series_id ON Series (id);
-- One row per series, keyed by the series id as in Slicebox.
CREATE TABLE IF NOT EXISTS SeriesSources (
  id INTEGER PRIMARY KEY REFERENCES Series (id) ON DELETE CASCADE,
  sourceType TEXT NOT NULL,
  sourceName TEXT NOT NULL DEFAULT '',
  sourceId INTEGER NOT NULL
);
-- Whether the index agreed with the stored files when the engine last stopped (the start-up check's marker).
CREATE TABLE IF NOT EXISTS IndexState (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS SeriesSources_source ON SeriesSources (sourceType, sourceId);
`;
// Series type assignments and series tags: src/series-types/sqlite-labels.ts.

export type Row = Record<string, unknown>;

export const quote = (identifier: string) => `"${identifier}"`;
export const column = (spec: TableSpec, name: string) => `${quote(spec.name)}.${quote(name)}`;
export const allColumns = (spec: TableSpec) => [
  'id',
  ...(spec.parentKey ? [spec.parentKey] : []),
  ...spec.attributes.map(([c]) => c),
  ...spec.internal,
  ...spec.queryAttributes.map(([c]) => c),
];

/** The DICOM-derived columns ingest writes: Slicebox's attributes, then those of Query/Retrieve. */
export const storedAttributes = (spec: TableSpec) => [...spec.attributes, ...spec.queryAttributes];

/**
 * Adds the Query/Retrieve columns (`queryAttributes`) a database created before them lacks, and the
 * indexes C-FIND and QIDO-RS match on. Rows indexed before the migration hold '' in the new columns until
 * their instances are indexed again (`backfillQueryColumns`). Answers the number of columns added.
 */
export function migrateQueryColumns(db: Database.Database): number {
  let added = 0;
  db.exec(BACKFILL_SCHEMA);
  for (const spec of CHAIN) {
    const existing = new Set(
      db
        .prepare<[], { name: string }>(`PRAGMA table_info(${quote(spec.name)})`)
        .all()
        .map((c) => c.name),
    );
    for (const [c] of spec.queryAttributes)
      if (!existing.has(c)) {
        db.exec(`ALTER TABLE ${quote(spec.name)} ADD COLUMN ${quote(c)} TEXT NOT NULL DEFAULT ''`);
        added++;
      }
  }
  db.exec(QUERY_INDEXES);
  // Images indexed before the columns existed are read again, in the background, to fill them.
  if (added) db.exec('INSERT OR IGNORE INTO "QueryColumnsBackfill" ("imageId") SELECT "id" FROM "Images"');
  return added;
}

const BACKFILL_SCHEMA = `
CREATE TABLE IF NOT EXISTS QueryColumnsBackfill (imageId INTEGER PRIMARY KEY REFERENCES Images (id) ON DELETE CASCADE);
`;

/** What C-FIND and QIDO-RS look up by beyond the lookups of SCHEMA (patient ID, UIDs, dates, modality). */
const QUERY_INDEXES = `
CREATE INDEX IF NOT EXISTS Studies_accessionNumber ON Studies (accessionNumber);
`;

export function entity(spec: TableSpec, row: Row, prefix = ''): Row {
  const out: Row = { id: row[`${prefix}id`] };
  if (spec.parentKey) out[spec.parentKey] = row[`${prefix}${spec.parentKey}`];
  for (const [c] of spec.attributes) out[c] = { value: String(row[`${prefix}${c}`] ?? '') };
  return out;
}

export function flatEntity(row: Row): FlatSeries {
  return {
    id: row.se_id as number,
    patient: entity(PATIENTS, row, FLAT_PREFIX[0]) as unknown as Patient,
    study: entity(STUDIES, row, FLAT_PREFIX[1]) as unknown as Study,
    series: entity(SERIES, row, FLAT_PREFIX[2]) as unknown as Series,
  };
}

/** A row by id for each table of the hierarchy. */
export function rowByIdStatements(
  db: Database.Database,
): Record<TableName, Database.Statement<[number], Row>> {
  return Object.fromEntries(
    CHAIN.map((spec) => [
      spec.name,
      db.prepare<[number], Row>(`SELECT * FROM ${quote(spec.name)} WHERE "id" = ?`),
    ]),
  ) as Record<TableName, Database.Statement<[number], Row>>;
}

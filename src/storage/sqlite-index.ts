/**
 * The metadata index in SQLite, with Slicebox's hierarchy and keys: a patient is (PatientName, PatientID),
 * a study (patient, StudyInstanceUID), a series (study, SeriesInstanceUID), an image (series,
 * SOPInstanceUID), and a SOP instance is indexed once. Columns carry the JSON field names, so a query's
 * property name is a column name.
 *
 * SQL is built from whitelisted identifiers only; every value a client sends is a bound parameter.
 */
import Database from 'better-sqlite3';
import { attr, type DicomHeader } from '../dicom/header.js';
import { BadRequestError } from '../errors.js';
import type { SourceRef, SourceType } from '../pipeline/envelope.js';
import { migrateSeriesLabels, SERIES_LABELS_SCHEMA, seriesLabels } from '../series-types/sqlite-labels.js';
import type {
  FlatSeries,
  Image,
  IndexInput,
  IndexResult,
  Level,
  ListOptions,
  MetadataIndex,
  MetadataQuery,
  Patient,
  QueryFilters,
  QueryProperty,
  Series,
  Source,
  Study,
} from './metadata-index.js';

/** Slicebox truncates patient names to the width of its column. */
const PATIENT_NAME_MAX = 180;
/** Values in one `in` list or one filter list; far more than a client needs, far fewer than SQLite allows. */
const MAX_LIST_VALUES = 1000;
const STATEMENT_CACHE_SIZE = 500;

type TableName = 'Patients' | 'Studies' | 'Series' | 'Images';

interface TableSpec {
  readonly name: TableName;
  /** Column holding the parent level's id. */
  readonly parentKey?: 'patientId' | 'studyId' | 'seriesId';
  /** DICOM-derived string columns (JSON `{ value }`) and the keyword each is read from. */
  readonly attributes: ReadonlyArray<readonly [column: string, keyword: string]>;
  /** Stored, queryable, but not part of the JSON entity. */
  readonly internal: readonly string[];
}

const PATIENTS: TableSpec = {
  name: 'Patients',
  attributes: [
    ['patientName', 'PatientName'],
    ['patientID', 'PatientID'],
    ['patientBirthDate', 'PatientBirthDate'],
    ['patientSex', 'PatientSex'],
  ],
  internal: [],
};
const STUDIES: TableSpec = {
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
};
const SERIES: TableSpec = {
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
};
const IMAGES: TableSpec = {
  name: 'Images',
  parentKey: 'seriesId',
  attributes: [
    ['sopInstanceUID', 'SOPInstanceUID'],
    ['imageType', 'ImageType'],
    ['instanceNumber', 'InstanceNumber'],
  ],
  internal: ['sopClassUID', 'transferSyntaxUID', 'size', 'createdAt'],
};

/** The hierarchy top-down; a table's depth is its index. */
const CHAIN = [PATIENTS, STUDIES, SERIES, IMAGES] as const;
const DEPTH: Record<Level, number> = { patients: 0, studies: 1, series: 2, images: 3, flatseries: 2 };
const FLAT_PREFIX = ['p_', 'st_', 'se_'] as const;

const OPERATORS = new Set(['=', 'like', '<', '>', '<=', '>=', 'in']);

const SCHEMA = `
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
-- One row per series, keyed by the series id as in Slicebox.
CREATE TABLE IF NOT EXISTS SeriesSources (
  id INTEGER PRIMARY KEY REFERENCES Series (id) ON DELETE CASCADE,
  sourceType TEXT NOT NULL,
  sourceName TEXT NOT NULL DEFAULT '',
  sourceId INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS SeriesSources_source ON SeriesSources (sourceType, sourceId);
`;
// Series type assignments and series tags: src/series-types/sqlite-labels.ts.

type Row = Record<string, unknown>;

const quote = (identifier: string) => `"${identifier}"`;
const column = (spec: TableSpec, name: string) => `${quote(spec.name)}.${quote(name)}`;
const allColumns = (spec: TableSpec) => [
  'id',
  ...(spec.parentKey ? [spec.parentKey] : []),
  ...spec.attributes.map(([c]) => c),
  ...spec.internal,
];
const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;

/** Every non-id column of the hierarchy, by its (case-sensitive) JSON name: `patientID` is not `patientId`. */
const COLUMN_DEPTH = new Map<string, number>(
  CHAIN.flatMap((spec, depth) =>
    allColumns(spec)
      .filter((c) => c !== 'id')
      .map((c) => [c, depth] as const),
  ),
);

interface ColumnRef {
  depth: number;
  sql: string;
}

/** A column of the hierarchy as a query property; `id` is the level's own id. */
function queryColumn(level: Level, name: string): ColumnRef {
  const depth = name === 'id' ? DEPTH[level] : COLUMN_DEPTH.get(name);
  if (depth === undefined) throw new BadRequestError(`Property ${name} does not exist`);
  return { depth, sql: column(CHAIN[depth], name) };
}

/** A column the level's rows can be ordered by: its own, or for flatseries any patient, study or series one. */
function orderColumn(level: Level, name: string): ColumnRef {
  const ref = name === 'id' || COLUMN_DEPTH.has(name) ? queryColumn(level, name) : undefined;
  const own =
    level === 'flatseries' ? ref && ref.depth <= DEPTH.flatseries : ref && ref.depth === DEPTH[level];
  if (!ref || !own) throw new BadRequestError(`Property ${name} does not exist`);
  return ref;
}

/** Columns the free-text `filter` searches. */
function filterColumns(level: Level): string[] {
  const specs = level === 'flatseries' ? [PATIENTS, STUDIES, SERIES] : [CHAIN[DEPTH[level]]];
  return specs.flatMap((spec) => spec.attributes.map(([c]) => column(spec, c)));
}

function entity(spec: TableSpec, row: Row, prefix = ''): Row {
  const out: Row = { id: row[`${prefix}id`] };
  if (spec.parentKey) out[spec.parentKey] = row[`${prefix}${spec.parentKey}`];
  for (const [c] of spec.attributes) out[c] = { value: String(row[`${prefix}${c}`] ?? '') };
  return out;
}

function flatEntity(row: Row): FlatSeries {
  return {
    id: row.se_id as number,
    patient: entity(PATIENTS, row, FLAT_PREFIX[0]) as unknown as Patient,
    study: entity(STUDIES, row, FLAT_PREFIX[1]) as unknown as Study,
    series: entity(SERIES, row, FLAT_PREFIX[2]) as unknown as Series,
  };
}

const FLAT_SELECT = [PATIENTS, STUDIES, SERIES]
  .flatMap((spec, depth) =>
    allColumns(spec).map((c) => `${column(spec, c)} AS ${quote(FLAT_PREFIX[depth] + c)}`),
  )
  .join(', ');

/** The FROM clause: the level's table, joined up to the shallowest and down to the deepest table needed. */
function fromClause(depth: number, needed: Set<number>): string {
  const shallowest = Math.min(depth, ...needed);
  const deepest = Math.max(depth, ...needed);
  let sql = quote(CHAIN[depth].name);
  for (let d = depth - 1; d >= shallowest; d--)
    sql += ` JOIN ${quote(CHAIN[d].name)} ON ${column(CHAIN[d], 'id')} = ${column(CHAIN[d + 1], CHAIN[d + 1].parentKey!)}`;
  for (let d = depth + 1; d <= deepest; d++)
    sql += ` LEFT JOIN ${quote(CHAIN[d].name)} ON ${column(CHAIN[d], CHAIN[d].parentKey!)} = ${column(CHAIN[d - 1], 'id')}`;
  return sql;
}

/** A SELECT under construction: conditions and their parameters, in the same order. */
class Selection {
  readonly where: string[] = [];
  readonly params: unknown[] = [];
  readonly needed = new Set<number>();
  constructor(readonly level: Level) {
    if (!Object.hasOwn(DEPTH, level)) throw new BadRequestError(`Unknown level ${String(level)}`);
    if (level === 'flatseries') this.needed.add(0).add(1);
  }

  add(condition: string, ...params: unknown[]): this {
    this.where.push(condition);
    this.params.push(...params);
    return this;
  }

  /** Case-insensitive contains over the level's string columns. */
  filter(text: string | undefined): this {
    if (!text) return this;
    const columns = filterColumns(this.level);
    const pattern = likePattern(text);
    return this.add(
      `(${columns.map((c) => `${c} LIKE ? ESCAPE '\\'`).join(' OR ')})`,
      ...columns.map(() => pattern),
    );
  }

  /** Source, series type and series tag filters: a row matches when one of its series matches all three. */
  filters(filters: QueryFilters | undefined): this {
    const params: unknown[] = [];
    const condition = seriesCondition(filters, params);
    if (!condition) return this;
    if (this.level === 'patients')
      return this.add(
        `"Patients"."id" IN (SELECT "fst"."patientId" FROM "Studies" AS "fst" JOIN "Series" AS "fse" ON "fse"."studyId" = "fst"."id" WHERE ${condition('"fse"."id"')})`,
        ...params,
      );
    if (this.level === 'studies')
      return this.add(
        `"Studies"."id" IN (SELECT "fse"."studyId" FROM "Series" AS "fse" WHERE ${condition('"fse"."id"')})`,
        ...params,
      );
    const seriesId = this.level === 'images' ? '"Images"."seriesId"' : '"Series"."id"';
    return this.add(condition(seriesId), ...params);
  }

  property(p: QueryProperty): this {
    const ref = queryColumn(this.level, p.propertyName);
    this.needed.add(ref.depth);
    const op = String(p.operator).toLowerCase();
    if (!OPERATORS.has(op))
      throw new BadRequestError(
        `Unknown operator "${String(p.operator)}" for property ${p.propertyName}; use one of =, like, <, >, <=, >=, in`,
      );
    if (op === 'in') {
      const values = listValues(p);
      return this.add(`${ref.sql} IN (${values.map(() => '?').join(', ')})`, ...values);
    }
    if (typeof p.propertyValue !== 'string')
      throw new BadRequestError(`Operator "${op}" on property ${p.propertyName} needs a single string value`);
    if (op === 'like') return this.add(`${ref.sql} LIKE ? ESCAPE '\\'`, likePattern(p.propertyValue));
    return this.add(`${ref.sql} ${op} ?`, p.propertyValue);
  }

  /** The finished SQL; `count` < 0 means no limit. */
  sql(order: { orderBy?: string; orderAscending?: boolean }, startIndex: number, count: number): string {
    const depth = DEPTH[this.level];
    const table = CHAIN[depth];
    const direction = order.orderAscending === false ? 'DESC' : 'ASC';
    const orderBy = order.orderBy ? `${orderColumn(this.level, order.orderBy).sql} ${direction}, ` : '';
    // A join to a deeper level repeats the level's rows.
    const distinct = Math.max(...this.needed) > depth ? 'DISTINCT ' : '';
    const select = this.level === 'flatseries' ? FLAT_SELECT : `${quote(table.name)}.*`;
    const where = this.where.length ? ` WHERE ${this.where.join(' AND ')}` : '';
    this.params.push(count, startIndex);
    return (
      `SELECT ${distinct}${select} FROM ${fromClause(depth, this.needed)}${where}` +
      ` ORDER BY ${orderBy}${column(table, 'id')} ${order.orderBy ? 'ASC' : direction} LIMIT ? OFFSET ?`
    );
  }
}

function listValues(p: QueryProperty): string[] {
  const raw = p.propertyValue;
  const values = Array.isArray(raw)
    ? raw
    : typeof raw === 'string'
      ? raw
          .split(',')
          .map((v) => v.trim())
          .filter((v) => v.length > 0)
      : undefined;
  if (!values || values.some((v) => typeof v !== 'string'))
    throw new BadRequestError(`Operator "in" on property ${p.propertyName} needs a list of strings`);
  if (values.length === 0)
    throw new BadRequestError(`Operator "in" on property ${p.propertyName} needs at least one value`);
  if (values.length > MAX_LIST_VALUES)
    throw new BadRequestError(
      `Operator "in" on property ${p.propertyName} takes at most ${MAX_LIST_VALUES} values`,
    );
  return values;
}

/**
 * The condition a series id must meet under `filters` (OR within a list, AND across lists), as a function
 * of the SQL expression for the series id; undefined when nothing is filtered.
 */
function seriesCondition(
  filters: QueryFilters | undefined,
  params: unknown[],
): ((seriesId: string) => string) | undefined {
  const sources = filters?.sourceRefs ?? [];
  const types = filters?.seriesTypeIds ?? [];
  const tags = filters?.seriesTagIds ?? [];
  for (const [name, list] of [
    ['sourceRefs', sources],
    ['seriesTypeIds', types],
    ['seriesTagIds', tags],
  ] as const)
    if (list.length > MAX_LIST_VALUES)
      throw new BadRequestError(`filters.${name} takes at most ${MAX_LIST_VALUES} values`);
  const parts: Array<(seriesId: string) => string> = [];
  if (sources.length) {
    parts.push(
      (id) =>
        `${id} IN (SELECT "id" FROM "SeriesSources" WHERE ${sources.map(() => '("sourceType" = ? AND "sourceId" = ?)').join(' OR ')})`,
    );
    params.push(...sources.flatMap((s) => [s.sourceType, s.sourceId]));
  }
  if (types.length) {
    parts.push(
      (id) =>
        `${id} IN (SELECT "seriesId" FROM "SeriesSeriesTypes" WHERE "seriesTypeId" IN (${types.map(() => '?').join(', ')}))`,
    );
    params.push(...types);
  }
  if (tags.length) {
    parts.push(
      (id) =>
        `${id} IN (SELECT "seriesId" FROM "SeriesSeriesTags" WHERE "seriesTagId" IN (${tags.map(() => '?').join(', ')}))`,
    );
    params.push(...tags);
  }
  return parts.length ? (id) => parts.map((part) => part(id)).join(' AND ') : undefined;
}

function checkPaging(startIndex: number, count: number): void {
  if (!Number.isSafeInteger(startIndex) || startIndex < 0)
    throw new BadRequestError(`startIndex must be a non-negative integer, got ${startIndex}`);
  if (!Number.isSafeInteger(count) || count < 0)
    throw new BadRequestError(`count must be a non-negative integer, got ${count}`);
}

function attributeValues(spec: TableSpec, header: DicomHeader): string[] {
  return spec.attributes.map(([c, keyword]) => {
    const value = attr(header, keyword);
    return c === 'patientName' ? value.slice(0, PATIENT_NAME_MAX) : value;
  });
}

/**
 * Find-or-insert by the level's key, updating the other attributes when they changed (last writer wins).
 * Reading first keeps the common case (another image of a known series) free of writes.
 */
function rowUpserter(db: Database.Database, spec: TableSpec, keyColumns: readonly string[]) {
  const columns = [...(spec.parentKey ? [spec.parentKey] : []), ...spec.attributes.map(([c]) => c)];
  const others = columns.filter((c) => !keyColumns.includes(c));
  const find = db.prepare<unknown[], Row>(
    `SELECT * FROM ${quote(spec.name)} WHERE ${keyColumns.map((c) => `${quote(c)} = ?`).join(' AND ')}`,
  );
  const insert = db.prepare(
    `INSERT INTO ${quote(spec.name)} (${columns.map(quote).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
  );
  const update = db.prepare(
    `UPDATE ${quote(spec.name)} SET ${others.map((c) => `${quote(c)} = ?`).join(', ')} WHERE "id" = ?`,
  );
  return (parentId: number | undefined, values: string[]): number => {
    const cells: unknown[] = spec.parentKey ? [parentId, ...values] : values;
    const cell = (c: string) => cells[columns.indexOf(c)];
    const existing = find.get(...keyColumns.map(cell));
    if (!existing) return Number(insert.run(...cells).lastInsertRowid);
    if (others.some((c) => existing[c] !== cell(c))) update.run(...others.map(cell), existing.id);
    return existing.id as number;
  };
}

export function openSqliteIndex(path: string): MetadataIndex {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);
  db.exec(SERIES_LABELS_SCHEMA);
  migrateSeriesLabels(db);
  const labels = seriesLabels(db);

  const statements = new Map<string, Database.Statement<unknown[], Row>>();
  const prepared = (sql: string) => {
    let statement = statements.get(sql);
    if (!statement) {
      if (statements.size >= STATEMENT_CACHE_SIZE) statements.clear();
      statement = db.prepare<unknown[], Row>(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
  const rowsOf = (
    selection: Selection,
    order: { orderBy?: string; orderAscending?: boolean },
    startIndex: number,
    count: number,
  ) => prepared(selection.sql(order, startIndex, count)).all(...selection.params);
  const toEntities = (level: Level, rows: Row[]): unknown[] =>
    level === 'flatseries' ? rows.map(flatEntity) : rows.map((row) => entity(CHAIN[DEPTH[level]], row));

  const upsertPatient = rowUpserter(db, PATIENTS, ['patientName', 'patientID']);
  const upsertStudy = rowUpserter(db, STUDIES, ['patientId', 'studyInstanceUID']);
  const upsertSeries = rowUpserter(db, SERIES, ['studyId', 'seriesInstanceUID']);
  const imageBySop = db.prepare<[string], Row>('SELECT * FROM "Images" WHERE "sopInstanceUID" = ?');
  const insertImage = db.prepare(
    'INSERT INTO "Images" ("seriesId", "sopInstanceUID", "imageType", "instanceNumber", "sopClassUID", "transferSyntaxUID", "size", "createdAt") VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const updateImage = db.prepare(
    'UPDATE "Images" SET "seriesId" = ?, "imageType" = ?, "instanceNumber" = ?, "sopClassUID" = ?, "transferSyntaxUID" = ?, "size" = ? WHERE "id" = ?',
  );
  const upsertSource = db.prepare(
    'INSERT INTO "SeriesSources" ("id", "sourceType", "sourceName", "sourceId") VALUES (?, ?, ?, ?) ' +
      'ON CONFLICT ("id") DO UPDATE SET "sourceType" = excluded."sourceType", "sourceName" = excluded."sourceName", "sourceId" = excluded."sourceId" ' +
      'WHERE ("sourceType", "sourceName", "sourceId") IS NOT (excluded."sourceType", excluded."sourceName", excluded."sourceId")',
  );
  const byId = Object.fromEntries(
    CHAIN.map((spec) => [
      spec.name,
      db.prepare<[number], Row>(`SELECT * FROM ${quote(spec.name)} WHERE "id" = ?`),
    ]),
  ) as Record<TableName, Database.Statement<[number], Row>>;
  const sourceOf = db.prepare<[number], { sourceType: SourceType; sourceName: string; sourceId: number }>(
    'SELECT "sourceType", "sourceName", "sourceId" FROM "SeriesSources" WHERE "id" = ?',
  );
  const deleteImage = db.prepare<[number]>('DELETE FROM "Images" WHERE "id" = ?');
  const deleteSeriesIfEmpty = db.prepare<[number]>(
    'DELETE FROM "Series" WHERE "id" = ? AND NOT EXISTS (SELECT 1 FROM "Images" WHERE "Images"."seriesId" = "Series"."id")',
  );
  const deleteStudyIfEmpty = db.prepare<[number]>(
    'DELETE FROM "Studies" WHERE "id" = ? AND NOT EXISTS (SELECT 1 FROM "Series" WHERE "Series"."studyId" = "Studies"."id")',
  );
  const deletePatientIfEmpty = db.prepare<[number]>(
    'DELETE FROM "Patients" WHERE "id" = ? AND NOT EXISTS (SELECT 1 FROM "Studies" WHERE "Studies"."patientId" = "Patients"."id")',
  );
  const imageIds = db.prepare<[], number>('SELECT "id" FROM "Images" ORDER BY "id"').pluck();

  /** Removes a series left without images, then its study and patient if they are left empty too. */
  const removeIfEmpty = (seriesId: number) => {
    const series = byId.Series.get(seriesId);
    const tagIds = labels.tagIdsOf(seriesId);
    if (!series || deleteSeriesIfEmpty.run(seriesId).changes === 0) return;
    // Assignments and tag links went with the series (cascade); tags it alone carried go too.
    labels.deleteOrphanedTags(tagIds);
    const study = byId.Studies.get(series.studyId as number);
    if (!study || deleteStudyIfEmpty.run(study.id as number).changes === 0) return;
    deletePatientIfEmpty.run(study.patientId as number);
  };

  const upsert = db.transaction(({ header, origin, size }: IndexInput): IndexResult => {
    const patientId = upsertPatient(undefined, attributeValues(PATIENTS, header));
    const studyId = upsertStudy(patientId, attributeValues(STUDIES, header));
    const seriesId = upsertSeries(studyId, attributeValues(SERIES, header));
    upsertSource.run(seriesId, origin.sourceType, origin.sourceName, origin.sourceId);
    const sopInstanceUID = header.sopInstanceUid;
    const imageType = attr(header, 'ImageType');
    const instanceNumber = attr(header, 'InstanceNumber');
    const existing = imageBySop.get(sopInstanceUID);
    let id: number;
    if (existing) {
      id = existing.id as number;
      updateImage.run(
        seriesId,
        imageType,
        instanceNumber,
        header.sopClassUid,
        header.transferSyntaxUid,
        size,
        id,
      );
      // Re-sent under another series (or patient/study key): the old branch may now be empty.
      if (existing.seriesId !== seriesId) removeIfEmpty(existing.seriesId as number);
    } else {
      const values = [
        seriesId,
        sopInstanceUID,
        imageType,
        instanceNumber,
        header.sopClassUid,
        header.transferSyntaxUid,
        size,
        Date.now(),
      ];
      id = Number(insertImage.run(...values).lastInsertRowid);
    }
    const image: Image = {
      id,
      seriesId,
      sopInstanceUID: { value: sopInstanceUID },
      imageType: { value: imageType },
      instanceNumber: { value: instanceNumber },
    };
    return { image, created: !existing };
  });

  const deleteImages = db.transaction((ids: number[]): number[] => {
    const existed: number[] = [];
    const touchedSeries = new Set<number>();
    for (const id of new Set(ids)) {
      const image = byId.Images.get(id);
      if (!image) continue;
      deleteImage.run(id);
      existed.push(id);
      touchedSeries.add(image.seriesId as number);
    }
    for (const seriesId of touchedSeries) removeIfEmpty(seriesId);
    return existed;
  });

  const one = <T>(table: TableName, id: number): T | undefined => {
    const row = byId[table].get(id);
    return row
      ? (entity(
          CHAIN.find((s) => s.name === table)!,
          row,
        ) as T)
      : undefined;
  };

  const list = (level: Level, opts: ListOptions): any[] => {
    checkPaging(opts.startIndex, opts.count);
    const selection = new Selection(level);
    const table = CHAIN[DEPTH[level]];
    if (opts.parentId !== undefined && table.parentKey && level !== 'flatseries')
      selection.add(`${column(table, table.parentKey)} = ?`, opts.parentId);
    selection.filter(opts.filter).filters(opts.filters);
    const rows = rowsOf(selection, opts, opts.startIndex, opts.count);
    return toEntities(level, rows);
  };

  const query = (level: Level, q: MetadataQuery): any[] => {
    checkPaging(q.startIndex, q.count);
    const selection = new Selection(level);
    for (const p of q.queryProperties) selection.property(p);
    selection.filters(q.filters);
    const rows = rowsOf(selection, q.order ?? {}, q.startIndex, q.count);
    return toEntities(level, rows);
  };

  const imagesUnder = (condition: string, depth: number, id: number, filters?: QueryFilters): Image[] => {
    const selection = new Selection('images').add(condition, id).filters(filters);
    selection.needed.add(depth);
    return toEntities('images', rowsOf(selection, {}, 0, -1)) as Image[];
  };

  return {
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
    close: () => db.close(),
  };
}

/**
 * The ClickHouse index's writes: rows inserted again with a higher version, deletions as tombstones (see
 * schema.ts). Writes run one at a time (`serial`), which makes the read-modify-write of upserts and labels
 * safe and lets the process-local id allocator count (ids.ts: single writer). Concurrent upserts are grouped:
 * whatever arrives while a batch is written goes into the next one, looked up with one SELECT per level and
 * written with one INSERT per table, so a lone instance is written at once and a busy ingest pays one round
 * of statements per batch, not per instance. An instance's promise settles after its batch is written.
 */
import { attr, type DicomHeader } from '../../dicom/header.js';
import type { Image, IndexInput, IndexResult } from '../metadata-index.js';
import {
  IMAGES,
  PATIENTS,
  SERIES,
  storedAttributes,
  STUDIES,
  type Row,
  type TableSpec,
} from '../sqlite-index-tables.js';
import type { ClickHouseDb } from './client.js';
import type { IdAllocator } from './ids.js';
import { int, intList, str, strList } from './literal.js';
import { q, type Tables } from './queries.js';
import { LOOKUPS, NUMERIC_COLUMNS, WRITTEN_COLUMNS, type ClickHouseTable } from './schema.js';

const PATIENT_NAME_MAX = 180;
/** Instances per INSERT at most; more wait for the next batch. */
const MAX_BATCH = 500;

/** Runs tasks one after another, in call order. */
export function serialiser(): <T>(task: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(task: () => Promise<T>) => {
    const run = tail.then(task, task);
    tail = run.catch(() => undefined);
    return run;
  };
}

/** Versions that grow within the process (microseconds since the epoch, never repeated). */
export function versionClock(): () => number {
  let last = 0;
  return () => (last = Math.max(last + 1, Date.now() * 1000));
}

const literal = (column: string, value: unknown): string =>
  NUMERIC_COLUMNS.has(column) ? int(value as number) : str(String(value ?? ''));

export class Writer {
  constructor(
    readonly db: ClickHouseDb,
    readonly t: Tables,
    readonly ids: IdAllocator,
    readonly version: () => number,
  ) {}

  /** INSERTs rows (objects with every column of `columns`) as their new current versions. */
  async insert(
    table: ClickHouseTable,
    columns: readonly string[],
    rows: Row[],
    deleted = false,
  ): Promise<void> {
    if (!rows.length) return;
    const values = rows.map(
      (row) =>
        `(${columns.map((c) => literal(c, row[c])).join(', ')}, ${int(this.version())}, ${deleted ? 1 : 0})`,
    );
    await this.db.exec(
      `INSERT INTO ${this.t.raw(table)} (${[...columns, 'version', 'deleted'].map(q).join(', ')}) VALUES ${values.join(', ')}`,
    );
  }

  /** Tombstones for rows identified by `keys` (the table's sorting key columns). */
  tombstone(table: ClickHouseTable, keys: readonly string[], rows: Row[]): Promise<void> {
    return this.insert(table, keys, rows, true);
  }

  /**
   * The lookup rows (schema.ts LOOKUPS) of rows of `source` just written (`rows`, whole), given what was stored
   * of them before (`before`, by id; nothing for a new row): inserted where the key is new, the old one
   * tombstoned where it changed.
   */
  async index(source: ClickHouseTable, rows: Row[], before: ReadonlyMap<number, Row>): Promise<void> {
    await Promise.all(
      LOOKUPS.filter((l) => l.source === source).map(async (l) => {
        const moved = rows.filter((r) => String(before.get(Number(r.id))?.[l.key]) !== String(r[l.key]));
        await this.tombstone(
          l.table,
          [l.key, 'id'],
          moved.flatMap((r): Row[] => {
            const was = before.get(Number(r.id));
            return was ? [was] : [];
          }),
        );
        await this.insert(l.table, [l.key, 'id'], moved);
      }),
    );
  }

  /** Tombstones rows of `source` (whole, or with their id and lookup keys at least) and their lookup rows. */
  async remove(source: ClickHouseTable, rows: Row[]): Promise<void> {
    for (const l of LOOKUPS.filter((l) => l.source === source))
      await this.tombstone(l.table, [l.key, 'id'], rows);
    await this.tombstone(source, ['id'], rows);
  }
}

function attributeValues(spec: TableSpec, header: DicomHeader): Row {
  const row: Row = {};
  for (const [c, keyword] of storedAttributes(spec)) {
    const value = attr(header, keyword);
    row[c] = c === 'patientName' ? value.slice(0, PATIENT_NAME_MAX) : value;
  }
  return row;
}

const changed = (existing: Row, wanted: Row) =>
  Object.keys(wanted).some((c) => String(existing[c]) !== String(wanted[c]));

/**
 * What this process wrote or read of patients, studies, series and series sources, by their keys: another
 * image of a known series then needs no lookup. Sound only because this process is the index's single writer
 * (ids.ts); emptied whenever rows are deleted and after a failed batch. Bounded: emptied when full.
 */
export class HierarchyCache {
  static readonly MAX = 200_000;
  Patients = new Map<string, Row>();
  Studies = new Map<string, Row>();
  Series = new Map<string, Row>();
  sources = new Map<number, Row>();
  clear(): void {
    this.Patients.clear();
    this.Studies.clear();
    this.Series.clear();
    this.sources.clear();
  }
  trim(): void {
    if (this.Patients.size + this.Studies.size + this.Series.size + this.sources.size > HierarchyCache.MAX)
      this.clear();
  }
}

/** Current image rows by SOP Instance UID: through ImagesBySop (sorted by the UID), then by id. */
export async function imagesBySop(w: Writer, sops: string[]): Promise<Row[]> {
  if (!sops.length) return [];
  return w.db.rows<Row>(`SELECT * FROM ${w.t.keyed('Images', 'sopInstanceUID', strList(sops))}`);
}

interface Pending {
  input: IndexInput;
  resolve(result: IndexResult): void;
  reject(err: unknown): void;
}

/**
 * Upserts with Slicebox's keys (patient: name + ID; study: patient + StudyInstanceUID; series: study +
 * SeriesInstanceUID; image: SOPInstanceUID), grouped into batches; `removeIfEmpty` removes what a moved
 * instance left empty.
 */
export function batchedUpserts(
  w: Writer,
  serial: <T>(task: () => Promise<T>) => Promise<T>,
  removeIfEmpty: (seriesIds: number[]) => Promise<void>,
  cache: HierarchyCache,
): (input: IndexInput) => Promise<IndexResult> {
  const queue: Pending[] = [];
  let scheduled = false;

  const flush = () => {
    scheduled = false;
    const batch = queue.splice(0, MAX_BATCH);
    if (queue.length) schedule();
    if (!batch.length) return;
    serial(() => writeBatch(batch.map((p) => p.input))).then(
      (results) => batch.forEach((p, n) => p.resolve(results[n])),
      (err) => {
        // The cache may hold rows this batch did not write.
        cache.clear();
        batch.forEach((p) => p.reject(err));
      },
    );
  };
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    // Whatever is queued when the previous batch's statements are done goes together.
    void serial(async () => flush());
  }

  async function writeBatch(inputs: IndexInput[]): Promise<IndexResult[]> {
    const { db, t } = w;
    const wanted = inputs.map(({ header }) => ({
      patient: attributeValues(PATIENTS, header),
      study: attributeValues(STUDIES, header),
      series: attributeValues(SERIES, header),
    }));
    const uniq = (values: string[]) => [...new Set(values)];
    const patientKey = (r: Row) => JSON.stringify([r.patientName, r.patientID]);
    const studyKey = (r: Row) => JSON.stringify([Number(r.patientId), r.studyInstanceUID]);
    const seriesKey = (r: Row) => JSON.stringify([Number(r.studyId), r.seriesInstanceUID]);
    cache.trim();
    const images = imagesBySop(w, uniq(inputs.map((i) => i.header.sopInstanceUid)));
    // Awaited below; a failure of the lookups before it must not leave it unhandled.
    images.catch(() => undefined);
    const dirty = {
      Patients: new Map<number, Row>(),
      Studies: new Map(),
      Series: new Map(),
      Images: new Map(),
    };
    /** The rows this batch creates. */
    const created = new Set<Row>();
    /** The stored rows (as read, before this batch changed them) of the rows it changes, by id. */
    const stored = {
      Patients: new Map<number, Row>(),
      Studies: new Map<number, Row>(),
      Series: new Map<number, Row>(),
      Images: new Map<number, Row>(),
    };
    const update = (table: keyof typeof stored, existing: Row, values: Row): Row => {
      if (!created.has(existing) && !stored[table].has(Number(existing.id)))
        stored[table].set(Number(existing.id), { ...existing });
      return Object.assign(existing, values);
    };

    /**
     * The ids of `values` at one level: from the cache, else looked up (one SELECT for the batch's unknown
     * keys), else new. Attributes that changed are updated (last writer wins).
     */
    const resolve = async (
      table: 'Patients' | 'Studies' | 'Series',
      lookupColumn: string,
      values: Row[],
      key: (r: Row) => string,
    ): Promise<number[]> => {
      const known = cache[table];
      const missing = values.filter((v) => !known.has(key(v)));
      if (missing.length) {
        const found = await db.rows<Row>(
          `SELECT * FROM ${t.keyed(table, lookupColumn, strList(uniq(missing.map((v) => String(v[lookupColumn])))))}`,
        );
        for (const row of found) known.set(key(row), row);
      }
      await w.ids.reserve(table, values.filter((v) => !known.has(key(v))).length);
      return values.map((v) => {
        const existing = known.get(key(v));
        if (!existing) {
          const row = { ...v, id: w.ids.next(table) };
          created.add(row);
          known.set(key(v), row);
          dirty[table].set(row.id, row);
          return row.id;
        }
        if (changed(existing, v)) {
          update(table, existing, v);
          dirty[table].set(Number(existing.id), existing);
        }
        return Number(existing.id);
      });
    };
    const patientIds = await resolve(
      'Patients',
      'patientID',
      wanted.map((v) => v.patient),
      patientKey,
    );
    const studyIds = await resolve(
      'Studies',
      'studyInstanceUID',
      wanted.map((v, n) => ({ ...v.study, patientId: patientIds[n] })),
      studyKey,
    );
    const seriesIds = await resolve(
      'Series',
      'seriesInstanceUID',
      wanted.map((v, n) => ({ ...v.series, studyId: studyIds[n] })),
      seriesKey,
    );
    const current = { Images: new Map((await images).map((r) => [String(r.sopInstanceUID), r])) };

    const sourceOf = new Map<number, Row>();
    const left = new Set<number>();
    const results: IndexResult[] = [];
    const now = Date.now();
    await w.ids.reserve('Images', inputs.filter((i) => !current.Images.has(i.header.sopInstanceUid)).length);
    for (const [n, { header, origin, size }] of inputs.entries()) {
      const seriesId = seriesIds[n];
      sourceOf.set(seriesId, {
        id: seriesId,
        sourceType: origin.sourceType,
        sourceName: origin.sourceName,
        sourceId: origin.sourceId,
      });
      const sop = header.sopInstanceUid;
      const imageValues: Row = {
        seriesId,
        sopInstanceUID: sop,
        imageType: attr(header, 'ImageType'),
        instanceNumber: attr(header, 'InstanceNumber'),
        sopClassUID: header.sopClassUid,
        transferSyntaxUID: header.transferSyntaxUid,
        size,
        ...Object.fromEntries(IMAGES.queryAttributes.map(([c, keyword]) => [c, attr(header, keyword)])),
      };
      const existing = current.Images.get(sop);
      let row: Row;
      if (existing) {
        if (Number(existing.seriesId) !== seriesId) left.add(Number(existing.seriesId));
        row = update('Images', existing, imageValues);
      } else {
        row = { ...imageValues, id: w.ids.next('Images'), createdAt: now };
        current.Images.set(sop, row);
        created.add(row);
      }
      dirty.Images.set(Number(row.id), row);
      const image: Image = {
        id: Number(row.id),
        seriesId,
        sopInstanceUID: { value: sop },
        imageType: { value: String(imageValues.imageType) },
        instanceNumber: { value: String(imageValues.instanceNumber) },
      };
      results.push({ image, created: !existing });
    }

    const unknownSources = [...sourceOf.keys()].filter((id) => !cache.sources.has(id));
    if (unknownSources.length)
      for (const row of await db.rows<Row>(
        `SELECT "id", "sourceType", "sourceName", "sourceId" FROM ${t.live('SeriesSources', `"id" IN ${intList(unknownSources)}`)}`,
      ))
        cache.sources.set(Number(row.id), row);
    const sourceColumns = ['id', 'sourceType', 'sourceName', 'sourceId'];
    const newSources = [...sourceOf.values()].filter((s) => {
      const was = cache.sources.get(Number(s.id));
      return !was || changed(was, s);
    });
    for (const source of newSources) cache.sources.set(Number(source.id), source);
    // Parents first, images last: an image is never current without its series.
    await w.insert('Patients', WRITTEN_COLUMNS.Patients, [...dirty.Patients.values()]);
    await w.insert('Studies', WRITTEN_COLUMNS.Studies, [...dirty.Studies.values()]);
    await w.insert('Series', WRITTEN_COLUMNS.Series, [...dirty.Series.values()]);
    await w.insert('SeriesSources', sourceColumns, newSources);
    await w.insert('Images', WRITTEN_COLUMNS.Images, [...dirty.Images.values()]);
    for (const table of ['Studies', 'Series', 'Images'] as const)
      await w.index(table, [...dirty[table].values()], stored[table]);
    if (left.size) await removeIfEmpty([...left]);
    return results;
  }

  return (input) =>
    new Promise<IndexResult>((resolve, reject) => {
      queue.push({ input, resolve, reject });
      schedule();
    });
}

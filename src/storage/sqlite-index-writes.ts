/**
 * The metadata index's ingest path: upserting an instance's patient, study, series, image and series
 * source in one transaction, and deleting images with the series, studies and patients they leave empty.
 */
import type Database from 'better-sqlite3';
import { attr, type DicomHeader } from '../dicom/header.js';
import type { SeriesLabels } from '../series-types/sqlite-labels.js';
import type { Image, IndexInput, IndexResult } from './metadata-index.js';
import {
  PATIENTS,
  quote,
  rowByIdStatements,
  SERIES,
  storedAttributes,
  STUDIES,
  IMAGES,
  type Row,
  type TableSpec,
} from './sqlite-index-tables.js';

/** Slicebox truncates patient names to the width of its column. */
const PATIENT_NAME_MAX = 180;

function attributeValues(spec: TableSpec, header: DicomHeader): string[] {
  return storedAttributes(spec).map(([c, keyword]) => {
    const value = attr(header, keyword);
    return c === 'patientName' ? value.slice(0, PATIENT_NAME_MAX) : value;
  });
}

/**
 * Find-or-insert by the level's key, updating the other attributes when they changed (last writer wins).
 * Reading first keeps the common case (another image of a known series) free of writes.
 */
function rowUpserter(db: Database.Database, spec: TableSpec, keyColumns: readonly string[]) {
  const columns = [...(spec.parentKey ? [spec.parentKey] : []), ...storedAttributes(spec).map(([c]) => c)];
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

export interface IndexWrites {
  upsert(input: IndexInput): IndexResult;
  deleteImages(ids: number[]): number[];
}

export function indexWrites(db: Database.Database, labels: SeriesLabels): IndexWrites {
  const upsertPatient = rowUpserter(db, PATIENTS, ['patientName', 'patientID']);
  const upsertStudy = rowUpserter(db, STUDIES, ['patientId', 'studyInstanceUID']);
  const upsertSeries = rowUpserter(db, SERIES, ['studyId', 'seriesInstanceUID']);
  const imageBySop = db.prepare<[string], Row>('SELECT * FROM "Images" WHERE "sopInstanceUID" = ?');
  // The Query/Retrieve columns (Rows, Columns…) follow the fixed ones.
  const imageQueryColumns = IMAGES.queryAttributes.map(([c]) => c);
  const insertImage = db.prepare(
    `INSERT INTO "Images" ("seriesId", "sopInstanceUID", "imageType", "instanceNumber", "sopClassUID", "transferSyntaxUID", "size", "createdAt"${imageQueryColumns.map((c) => `, ${quote(c)}`).join('')}) VALUES (?, ?, ?, ?, ?, ?, ?, ?${', ?'.repeat(imageQueryColumns.length)})`,
  );
  const updateImage = db.prepare(
    `UPDATE "Images" SET "seriesId" = ?, "imageType" = ?, "instanceNumber" = ?, "sopClassUID" = ?, "transferSyntaxUID" = ?, "size" = ?${imageQueryColumns.map((c) => `, ${quote(c)} = ?`).join('')} WHERE "id" = ?`,
  );
  const upsertSource = db.prepare(
    'INSERT INTO "SeriesSources" ("id", "sourceType", "sourceName", "sourceId") VALUES (?, ?, ?, ?) ' +
      'ON CONFLICT ("id") DO UPDATE SET "sourceType" = excluded."sourceType", "sourceName" = excluded."sourceName", "sourceId" = excluded."sourceId" ' +
      'WHERE ("sourceType", "sourceName", "sourceId") IS NOT (excluded."sourceType", excluded."sourceName", excluded."sourceId")',
  );
  const byId = rowByIdStatements(db);
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
    const queryValues = IMAGES.queryAttributes.map(([, keyword]) => attr(header, keyword));
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
        ...queryValues,
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
        ...queryValues,
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

  return { upsert, deleteImages };
}

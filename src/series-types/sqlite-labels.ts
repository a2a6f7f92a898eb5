/**
 * Series labels in the metadata index: series type assignments (with a `manual` flag, so hand-made ones
 * survive new images) and series tags. They live beside the series so that deleting a series takes them
 * along (ON DELETE CASCADE) and so that metadata queries can filter on them in one statement.
 */
import type Database from 'better-sqlite3';
import { BadRequestError } from '../errors.js';
import type { Synchronous } from '../storage/settled.js';
import type { SeriesLabelIndex, SeriesTag } from './store.js';

export const SERIES_LABELS_SCHEMA = `
CREATE TABLE IF NOT EXISTS SeriesSeriesTypes (
  seriesId INTEGER NOT NULL REFERENCES Series (id) ON DELETE CASCADE,
  seriesTypeId INTEGER NOT NULL,
  manual INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (seriesId, seriesTypeId)
);
CREATE INDEX IF NOT EXISTS SeriesSeriesTypes_type ON SeriesSeriesTypes (seriesTypeId);
CREATE TABLE IF NOT EXISTS SeriesTags (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS SeriesSeriesTags (
  seriesId INTEGER NOT NULL REFERENCES Series (id) ON DELETE CASCADE,
  seriesTagId INTEGER NOT NULL REFERENCES SeriesTags (id) ON DELETE CASCADE,
  PRIMARY KEY (seriesId, seriesTagId)
);
CREATE INDEX IF NOT EXISTS SeriesSeriesTags_tag ON SeriesSeriesTags (seriesTagId);
`;

/** Index files made before assignments had a `manual` flag get the column. */
export function migrateSeriesLabels(db: Database.Database): void {
  const columns = db.prepare<[], { name: string }>('PRAGMA table_info("SeriesSeriesTypes")').all();
  if (!columns.some((c) => c.name === 'manual'))
    db.exec('ALTER TABLE "SeriesSeriesTypes" ADD COLUMN "manual" INTEGER NOT NULL DEFAULT 0');
}

const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;

/** The labels as the SQLite index uses them inside its own transactions: synchronous. */
export interface SeriesLabels extends Synchronous<SeriesLabelIndex> {
  /** Tag ids linked to a series (read before the series is deleted). */
  tagIdsOf(seriesId: number): number[];
  /** Deletes those of `tagIds` that no series carries any more. */
  deleteOrphanedTags(tagIds: readonly number[]): void;
}

export function seriesLabels(db: Database.Database): SeriesLabels {
  const q = {
    seriesIds: db.prepare<[], number>('SELECT "id" FROM "Series" ORDER BY "id"').pluck(),
    seriesExists: db.prepare<[number], number>('SELECT 1 FROM "Series" WHERE "id" = ?').pluck(),
    assignments: db.prepare<[number], { seriesTypeId: number; manual: number }>(
      'SELECT "seriesTypeId", "manual" FROM "SeriesSeriesTypes" WHERE "seriesId" = ? ORDER BY "seriesTypeId"',
    ),
    assignManual: db.prepare<[number, number]>(
      'INSERT INTO "SeriesSeriesTypes" ("seriesId", "seriesTypeId", "manual") VALUES (?, ?, 1) ' +
        'ON CONFLICT ("seriesId", "seriesTypeId") DO UPDATE SET "manual" = 1',
    ),
    assignAutomatic: db.prepare<[number, number]>(
      'INSERT INTO "SeriesSeriesTypes" ("seriesId", "seriesTypeId", "manual") VALUES (?, ?, 0) ' +
        'ON CONFLICT ("seriesId", "seriesTypeId") DO NOTHING',
    ),
    clearAutomatic: db.prepare<[number]>(
      'DELETE FROM "SeriesSeriesTypes" WHERE "seriesId" = ? AND "manual" = 0',
    ),
    unassign: db.prepare<[number, number]>(
      'DELETE FROM "SeriesSeriesTypes" WHERE "seriesId" = ? AND "seriesTypeId" = ?',
    ),
    unassignAll: db.prepare<[number]>('DELETE FROM "SeriesSeriesTypes" WHERE "seriesId" = ?'),
    forgetType: db.prepare<[number]>('DELETE FROM "SeriesSeriesTypes" WHERE "seriesTypeId" = ?'),
    tag: db.prepare<[number], SeriesTag>('SELECT "id", "name" FROM "SeriesTags" WHERE "id" = ?'),
    tagByName: db.prepare<[string], SeriesTag>('SELECT "id", "name" FROM "SeriesTags" WHERE "name" = ?'),
    insertTag: db.prepare<[string]>(
      'INSERT INTO "SeriesTags" ("name") VALUES (?) ON CONFLICT ("name") DO NOTHING',
    ),
    renameTag: db.prepare<[string, number]>('UPDATE "SeriesTags" SET "name" = ? WHERE "id" = ?'),
    deleteTag: db.prepare<[number]>('DELETE FROM "SeriesTags" WHERE "id" = ?'),
    deleteLinksOfTag: db.prepare<[number]>('DELETE FROM "SeriesSeriesTags" WHERE "seriesTagId" = ?'),
    tagsOf: db.prepare<[number], SeriesTag>(
      'SELECT t."id", t."name" FROM "SeriesTags" t JOIN "SeriesSeriesTags" l ON l."seriesTagId" = t."id" WHERE l."seriesId" = ? ORDER BY t."id"',
    ),
    tagIdsOf: db
      .prepare<[number], number>('SELECT "seriesTagId" FROM "SeriesSeriesTags" WHERE "seriesId" = ?')
      .pluck(),
    link: db.prepare<[number, number]>(
      'INSERT INTO "SeriesSeriesTags" ("seriesId", "seriesTagId") VALUES (?, ?) ON CONFLICT DO NOTHING',
    ),
    unlink: db.prepare<[number, number]>(
      'DELETE FROM "SeriesSeriesTags" WHERE "seriesId" = ? AND "seriesTagId" = ?',
    ),
    deleteIfOrphaned: db.prepare<[number]>(
      'DELETE FROM "SeriesTags" WHERE "id" = ? AND NOT EXISTS (SELECT 1 FROM "SeriesSeriesTags" WHERE "SeriesSeriesTags"."seriesTagId" = "SeriesTags"."id")',
    ),
  };

  const setAutomatic = db.transaction((seriesId: number, typeIds: readonly number[]) => {
    // Every instance of a series is classified, nearly always to what it already has: write only changes.
    const wanted = new Set(typeIds);
    const current = q.assignments.all(seriesId);
    const unchanged =
      current.every((a) => a.manual === 1 || wanted.has(a.seriesTypeId)) &&
      [...wanted].every((id) => current.some((a) => a.seriesTypeId === id));
    if (unchanged) return;
    q.clearAutomatic.run(seriesId);
    for (const typeId of wanted) q.assignAutomatic.run(seriesId, typeId);
  });
  const deleteOrphanedTags = (tagIds: readonly number[]) => {
    for (const id of tagIds) q.deleteIfOrphaned.run(id);
  };
  const addTag = db.transaction((seriesId: number, name: string): SeriesTag => {
    q.insertTag.run(name);
    const tag = q.tagByName.get(name)!;
    q.link.run(seriesId, tag.id);
    return tag;
  });
  const removeTag = db.transaction((seriesId: number, tagId: number) => {
    q.unlink.run(seriesId, tagId);
    deleteOrphanedTags([tagId]);
  });
  const deleteTag = db.transaction((id: number) => {
    q.deleteLinksOfTag.run(id);
    return q.deleteTag.run(id).changes === 1;
  });

  return {
    allSeriesIds: () => q.seriesIds.all(),
    seriesTypeAssignments: (seriesId) =>
      q.assignments.all(seriesId).map((r) => ({ seriesTypeId: r.seriesTypeId, manual: r.manual === 1 })),
    seriesTypeAssignmentsOf: (seriesIds) => {
      const ids = [...new Set(seriesIds)];
      if (!ids.length) return [];
      return db
        .prepare<number[], { seriesId: number; seriesTypeId: number }>(
          `SELECT "seriesId", "seriesTypeId" FROM "SeriesSeriesTypes" WHERE "seriesId" IN (${ids.map(() => '?').join(', ')}) ORDER BY "seriesId", "seriesTypeId"`,
        )
        .all(...ids);
    },
    assignSeriesType: (seriesId, seriesTypeId) => void q.assignManual.run(seriesId, seriesTypeId),
    unassignSeriesType: (seriesId, seriesTypeId) => void q.unassign.run(seriesId, seriesTypeId),
    unassignAllSeriesTypes: (seriesId) => void q.unassignAll.run(seriesId),
    setAutomaticSeriesTypes: (seriesId, typeIds) => {
      // The series may have gone (deleted while it was being classified): nothing to label then.
      if (q.seriesExists.get(seriesId)) setAutomatic(seriesId, typeIds);
    },
    forgetSeriesType: (seriesTypeId) => void q.forgetType.run(seriesTypeId),

    listSeriesTags: ({ startIndex, count, orderBy, orderAscending, filter }) => {
      // The order column comes from a fixed pair, never from the caller.
      const column = orderBy === 'name' ? '"name" COLLATE NOCASE' : '"id"';
      const direction = orderAscending === false ? 'DESC' : 'ASC';
      const where = filter ? `WHERE "name" LIKE ? ESCAPE '\\'` : '';
      const params: unknown[] = filter ? [likePattern(filter), count, startIndex] : [count, startIndex];
      return db
        .prepare<unknown[], SeriesTag>(
          `SELECT "id", "name" FROM "SeriesTags" ${where} ORDER BY ${column} ${direction}, "id" LIMIT ? OFFSET ?`,
        )
        .all(...params);
    },
    seriesTag: (id) => q.tag.get(id),
    insertSeriesTag: (name) => {
      const r = q.insertTag.run(name);
      return r.changes === 1 ? q.tag.get(Number(r.lastInsertRowid)) : undefined;
    },
    renameSeriesTag: (id, name) => {
      const other = q.tagByName.get(name);
      if (other && other.id !== id) throw new BadRequestError(`A series tag named "${name}" already exists`);
      return q.renameTag.run(name, id).changes === 1 ? q.tag.get(id) : undefined;
    },
    deleteSeriesTag: (id) => deleteTag(id),
    seriesTagsOf: (seriesId) => q.tagsOf.all(seriesId),
    addSeriesTagToSeries: (seriesId, name) => addTag(seriesId, name),
    removeSeriesTagFromSeries: (seriesId, tagId) => removeTag(seriesId, tagId),
    tagIdsOf: (seriesId) => q.tagIdsOf.all(seriesId),
    deleteOrphanedTags,
  };
}

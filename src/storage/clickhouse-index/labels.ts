/**
 * Series labels in the ClickHouse index (series type assignments and series tags), with the SQLite
 * adapter's behaviour (src/series-types/sqlite-labels.ts). Writes go through the index's serialisation.
 */
import { BadRequestError } from '../../errors.js';
import type { SeriesLabelIndex, SeriesTag } from '../../series-types/store.js';
import { int, intList, str } from './literal.js';
import type { Writer } from './writes.js';

export interface ClickHouseLabels extends SeriesLabelIndex {
  /** Removes the labels of deleted series and the tags no series carries any more (inside a write). */
  forgetSeries(seriesIds: number[]): Promise<void>;
}

interface Assignment {
  seriesId: number;
  seriesTypeId: number;
  manual: number;
}

export function clickHouseLabels(
  w: Writer,
  serial: <T>(task: () => Promise<T>) => Promise<T>,
): ClickHouseLabels {
  const { db, t } = w;
  const ASSIGNMENT = ['seriesId', 'seriesTypeId', 'manual'];
  const LINK = ['seriesId', 'seriesTagId'];
  const assignments = (seriesId: number) =>
    db.rows<Assignment>(
      `SELECT "seriesId", "seriesTypeId", "manual" FROM ${t.live('SeriesSeriesTypes')} WHERE "seriesId" = ${int(seriesId)} ORDER BY "seriesTypeId"`,
    );
  const tag = async (id: number) =>
    (await db.rows<SeriesTag>(`SELECT "id", "name" FROM ${t.live('SeriesTags')} WHERE "id" = ${int(id)}`))[0];
  const tagByName = async (name: string) =>
    (
      await db.rows<SeriesTag>(
        `SELECT "id", "name" FROM ${t.live('SeriesTags')} WHERE "name" = ${str(name)} ORDER BY "id" LIMIT 1`,
      )
    )[0];
  const seriesExists = async (id: number) =>
    (await db.rows(`SELECT "id" FROM ${t.live('Series')} WHERE "id" = ${int(id)}`)).length > 0;
  const insertTag = async (name: string): Promise<SeriesTag | undefined> => {
    if (await tagByName(name)) return undefined;
    await w.ids.reserve('SeriesTags', 1);
    const created = { id: w.ids.next('SeriesTags'), name };
    await w.insert('SeriesTags', ['id', 'name'], [created]);
    return created;
  };
  const deleteOrphanedTags = async (tagIds: number[]) => {
    if (!tagIds.length) return;
    const carried = new Set(
      (
        await db.rows<{ seriesTagId: number }>(
          `SELECT DISTINCT "seriesTagId" FROM ${t.live('SeriesSeriesTags')} WHERE "seriesTagId" IN ${intList(tagIds)}`,
        )
      ).map((r) => Number(r.seriesTagId)),
    );
    const orphans = [...new Set(tagIds)].filter((id) => !carried.has(id));
    await w.tombstone(
      'SeriesTags',
      ['id'],
      orphans.map((id) => ({ id })),
    );
  };

  return {
    allSeriesIds: async () =>
      (await db.rows<{ id: number }>(`SELECT "id" FROM ${t.live('Series')} ORDER BY "id"`)).map((r) =>
        Number(r.id),
      ),
    seriesTypeAssignments: async (seriesId) =>
      (await assignments(seriesId)).map((a) => ({
        seriesTypeId: Number(a.seriesTypeId),
        manual: Number(a.manual) === 1,
      })),
    seriesTypeAssignmentsOf: async (seriesIds) => {
      const ids = [...new Set(seriesIds)];
      if (!ids.length) return [];
      return (
        await db.rows<Assignment>(
          `SELECT "seriesId", "seriesTypeId" FROM ${t.live('SeriesSeriesTypes')} WHERE "seriesId" IN ${intList(ids)} ORDER BY "seriesId", "seriesTypeId"`,
        )
      ).map((a) => ({ seriesId: Number(a.seriesId), seriesTypeId: Number(a.seriesTypeId) }));
    },
    assignSeriesType: (seriesId, seriesTypeId) =>
      serial(() => w.insert('SeriesSeriesTypes', ASSIGNMENT, [{ seriesId, seriesTypeId, manual: 1 }])),
    unassignSeriesType: (seriesId, seriesTypeId) =>
      serial(() =>
        w.tombstone('SeriesSeriesTypes', ['seriesId', 'seriesTypeId'], [{ seriesId, seriesTypeId }]),
      ),
    unassignAllSeriesTypes: (seriesId) =>
      serial(async () =>
        w.tombstone(
          'SeriesSeriesTypes',
          ['seriesId', 'seriesTypeId'],
          (await assignments(seriesId)) as never,
        ),
      ),
    setAutomaticSeriesTypes: (seriesId, typeIds) =>
      serial(async () => {
        // The series may have gone (deleted while it was being classified): nothing to label then.
        if (!(await seriesExists(seriesId))) return;
        const wanted = new Set(typeIds);
        const current = await assignments(seriesId);
        const manual = new Set(
          current.filter((a) => Number(a.manual) === 1).map((a) => Number(a.seriesTypeId)),
        );
        const automatic = current.filter((a) => Number(a.manual) !== 1).map((a) => Number(a.seriesTypeId));
        const drop = automatic.filter((id) => !wanted.has(id));
        const add = [...wanted].filter((id) => !manual.has(id) && !automatic.includes(id));
        await w.tombstone(
          'SeriesSeriesTypes',
          ['seriesId', 'seriesTypeId'],
          drop.map((seriesTypeId) => ({ seriesId, seriesTypeId })),
        );
        await w.insert(
          'SeriesSeriesTypes',
          ASSIGNMENT,
          add.map((seriesTypeId) => ({ seriesId, seriesTypeId, manual: 0 })),
        );
      }),
    forgetSeriesType: (seriesTypeId) =>
      serial(async () => {
        const rows = await db.rows<Assignment>(
          `SELECT "seriesId", "seriesTypeId" FROM ${t.live('SeriesSeriesTypes')} WHERE "seriesTypeId" = ${int(seriesTypeId)}`,
        );
        await w.tombstone('SeriesSeriesTypes', ['seriesId', 'seriesTypeId'], rows as never);
      }),

    listSeriesTags: async ({ startIndex, count, orderBy, orderAscending, filter }) => {
      // The order expression comes from a fixed pair, never from the caller; NOCASE folds ASCII, as lower() does.
      const column = orderBy === 'name' ? 'lower("name")' : '"id"';
      const direction = orderAscending === false ? 'DESC' : 'ASC';
      const where = filter ? `WHERE positionCaseInsensitive("name", ${str(filter)}) > 0` : '';
      return (
        await db.rows<SeriesTag>(
          `SELECT "id", "name" FROM ${t.live('SeriesTags')} ${where} ORDER BY ${column} ${direction}, "id" LIMIT ${int(startIndex)}, ${int(count)}`,
        )
      ).map((r) => ({ id: Number(r.id), name: r.name }));
    },
    seriesTag: tag,
    insertSeriesTag: (name) => serial(() => insertTag(name)),
    renameSeriesTag: (id, name) =>
      serial(async () => {
        const other = await tagByName(name);
        if (other && Number(other.id) !== id)
          throw new BadRequestError(`A series tag named "${name}" already exists`);
        if (!(await tag(id))) return undefined;
        await w.insert('SeriesTags', ['id', 'name'], [{ id, name }]);
        return { id, name };
      }),
    deleteSeriesTag: (id) =>
      serial(async () => {
        if (!(await tag(id))) return false;
        const links = await db.rows<{ seriesId: number; seriesTagId: number }>(
          `SELECT "seriesId", "seriesTagId" FROM ${t.live('SeriesSeriesTags')} WHERE "seriesTagId" = ${int(id)}`,
        );
        await w.tombstone('SeriesSeriesTags', ['seriesId', 'seriesTagId'], links as never);
        await w.tombstone('SeriesTags', ['id'], [{ id }]);
        return true;
      }),
    seriesTagsOf: async (seriesId) =>
      (
        await db.rows<SeriesTag>(
          `SELECT "id", "name" FROM ${t.live('SeriesTags')} WHERE "id" IN (SELECT "seriesTagId" FROM ${t.live('SeriesSeriesTags')} WHERE "seriesId" = ${int(seriesId)}) ORDER BY "id"`,
        )
      ).map((r) => ({ id: Number(r.id), name: r.name })),
    addSeriesTagToSeries: (seriesId, name) =>
      serial(async () => {
        const found = (await tagByName(name)) ?? (await insertTag(name))!;
        const created = { id: Number(found.id), name: found.name };
        await w.insert('SeriesSeriesTags', LINK, [{ seriesId, seriesTagId: created.id }]);
        return created;
      }),
    removeSeriesTagFromSeries: (seriesId, seriesTagId) =>
      serial(async () => {
        await w.tombstone('SeriesSeriesTags', LINK, [{ seriesId, seriesTagId }]);
        await deleteOrphanedTags([seriesTagId]);
      }),
    forgetSeries: async (seriesIds) => {
      if (!seriesIds.length) return;
      const list = intList(seriesIds);
      const types = await db.rows(
        `SELECT "seriesId", "seriesTypeId" FROM ${t.live('SeriesSeriesTypes')} WHERE "seriesId" IN ${list}`,
      );
      const links = await db.rows<{ seriesId: number; seriesTagId: number }>(
        `SELECT "seriesId", "seriesTagId" FROM ${t.live('SeriesSeriesTags')} WHERE "seriesId" IN ${list}`,
      );
      await w.tombstone('SeriesSeriesTypes', ['seriesId', 'seriesTypeId'], types as never);
      await w.tombstone('SeriesSeriesTags', LINK, links as never);
      await deleteOrphanedTags(links.map((l) => Number(l.seriesTagId)));
    },
  };
}

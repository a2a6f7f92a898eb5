/**
 * Tag filters, their tag paths (string form) and their associations with sources in the PostgreSQL state
 * store: the same tables as the SQLite part (sqlite-store.ts), whose queries and row grouping this part
 * shares. Deleting a filter deletes its tag paths and associations (foreign keys cascade).
 */
import type { PgStatePart } from '../storage/postgres-state/part.js';
import { postgresSchema } from '../storage/postgres-state/part.js';
import type { SourceTagFilter, TagFilter, TagFilterStore, TagFilterTagPathRow } from './store.js';
import {
  ASSOCIATION,
  groupAssociated,
  type AssociatedRow,
  tagFilters as sqliteTagFilters,
} from './sqlite-store.js';

/** The SQLite part's tables, as PostgreSQL takes them. */
const SCHEMA = postgresSchema(sqliteTagFilters.schema);

const FILTER = 'SELECT id, name, tagFilterType FROM TagFilters';
const PATH = 'SELECT id, tagFilterId, tagPath FROM TagFilterTagPaths';

export const tagFilters: PgStatePart<TagFilterStore> = {
  schema: SCHEMA,
  create: (db) => ({
    listTagFilters: (startIndex, count) =>
      db.rows<TagFilter>(`${FILTER} ORDER BY id LIMIT $1 OFFSET $2`, [count, startIndex]),
    tagFilter: (id) => db.row<TagFilter>(`${FILTER} WHERE id = $1`, [id]),
    insertTagFilter: async ({ name, tagFilterType }) =>
      (await db.row<TagFilter>(
        'INSERT INTO TagFilters (name, tagFilterType) VALUES ($1, $2) RETURNING id, name, tagFilterType',
        [name, tagFilterType],
      ))!,
    deleteTagFilter: async (id) => (await db.run('DELETE FROM TagFilters WHERE id = $1', [id])) === 1,
    listTagFilterTagPaths: (tagFilterId, startIndex, count) =>
      db.rows<TagFilterTagPathRow>(`${PATH} WHERE tagFilterId = $1 ORDER BY id LIMIT $2 OFFSET $3`, [
        tagFilterId,
        count,
        startIndex,
      ]),
    insertTagFilterTagPath: async (tagFilterId, tagPath) =>
      (await db.row<TagFilterTagPathRow>(
        'INSERT INTO TagFilterTagPaths (tagFilterId, tagPath) VALUES ($1, $2) RETURNING id, tagFilterId, tagPath',
        [tagFilterId, tagPath],
      ))!,
    deleteTagFilterTagPath: async (tagFilterId, id) =>
      (await db.run('DELETE FROM TagFilterTagPaths WHERE tagFilterId = $1 AND id = $2', [
        tagFilterId,
        id,
      ])) === 1,
    listSourceTagFilters: (startIndex, count) =>
      db.rows<SourceTagFilter>(`${ASSOCIATION} ORDER BY a.id LIMIT $1 OFFSET $2`, [count, startIndex]),
    // Inserted, or the existing association of the same source and filter (kept as it is, with its first
    // source name, and locked by the no-op update so that it cannot go before it is read).
    insertSourceTagFilter: ({ sourceType, sourceName, sourceId, tagFilterId }) =>
      db.atomic(async (db) => {
        const { id } = (await db.row<{ id: number }>(
          `INSERT INTO SourceTagFilters (sourceType, sourceName, sourceId, tagFilterId) VALUES ($1, $2, $3, $4)
             ON CONFLICT (sourceType, sourceId, tagFilterId) DO UPDATE SET sourceName = SourceTagFilters.sourceName
             RETURNING id`,
          [sourceType, sourceName, sourceId, tagFilterId],
        ))!;
        return (await db.row<SourceTagFilter>(`${ASSOCIATION} WHERE a.id = $1`, [id]))!;
      }),
    deleteSourceTagFilter: async (id) =>
      (await db.run('DELETE FROM SourceTagFilters WHERE id = $1', [id])) === 1,
    deleteSourceTagFiltersOf: ({ sourceType, sourceId }) =>
      db.run('DELETE FROM SourceTagFilters WHERE sourceType = $1 AND sourceId = $2', [sourceType, sourceId]),
    // Sources in SQLite's byte order ("C"), whatever the database's collation.
    associatedTagFilters: async () =>
      groupAssociated(
        await db.rows<AssociatedRow>(
          `SELECT a.sourceType, a.sourceId, f.id, f.name, f.tagFilterType, p.tagPath
             FROM SourceTagFilters a JOIN TagFilters f ON f.id = a.tagFilterId
             LEFT JOIN TagFilterTagPaths p ON p.tagFilterId = f.id
            ORDER BY a.sourceType COLLATE "C", a.sourceId, f.id, p.id`,
        ),
      ),
  }),
};

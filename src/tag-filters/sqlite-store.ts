/**
 * Tag filters, their tag paths (string form) and their associations with sources, in the state store.
 * Deleting a filter deletes its tag paths and associations (foreign keys cascade).
 */
import type Database from 'better-sqlite3';
import type { SourceTagFilter, TagFilter, TagFilterStore, TagFilterTagPathRow } from './store.js';
import type { SourceRef, SourceType } from '../pipeline/origin.js';
import type { StatePart } from '../storage/sqlite-state-part.js';
import { settled, type Synchronous } from '../storage/settled.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS TagFilters (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  tagFilterType TEXT NOT NULL CHECK (tagFilterType IN ('WHITELIST', 'BLACKLIST'))
);
CREATE TABLE IF NOT EXISTS TagFilterTagPaths (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tagFilterId INTEGER NOT NULL REFERENCES TagFilters (id) ON DELETE CASCADE,
  tagPath TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS TagFilterTagPathsByFilter ON TagFilterTagPaths (tagFilterId);
CREATE TABLE IF NOT EXISTS SourceTagFilters (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  sourceType TEXT NOT NULL,
  sourceName TEXT NOT NULL,
  sourceId INTEGER NOT NULL,
  tagFilterId INTEGER NOT NULL REFERENCES TagFilters (id) ON DELETE CASCADE,
  UNIQUE (sourceType, sourceId, tagFilterId)
);
CREATE INDEX IF NOT EXISTS SourceTagFiltersByFilter ON SourceTagFilters (tagFilterId);
`;

/** An association with its filter's name; the alias is quoted so that PostgreSQL keeps its case. */
export const ASSOCIATION = `SELECT a.id, a.sourceType, a.sourceName, a.sourceId, a.tagFilterId, f.name AS "tagFilterName"
  FROM SourceTagFilters a JOIN TagFilters f ON f.id = a.tagFilterId`;

/** An associated filter with one of its tag paths (null when it has none). */
export interface AssociatedRow {
  sourceType: SourceType;
  sourceId: number;
  id: number;
  name: string;
  tagFilterType: TagFilter['tagFilterType'];
  tagPath: string | null;
}

/** Rows ordered by source, filter and tag path → one entry per source and filter with its tag paths. */
export function groupAssociated(rows: readonly AssociatedRow[]) {
  const out: Array<{ source: SourceRef; filter: TagFilter; tagPaths: string[] }> = [];
  for (const row of rows) {
    const last = out[out.length - 1];
    const same =
      last &&
      last.source.sourceType === row.sourceType &&
      last.source.sourceId === row.sourceId &&
      last.filter.id === row.id;
    const entry = same
      ? last
      : {
          source: { sourceType: row.sourceType, sourceId: row.sourceId },
          filter: { id: row.id, name: row.name, tagFilterType: row.tagFilterType },
          tagPaths: [],
        };
    if (!same) out.push(entry);
    if (row.tagPath !== null) entry.tagPaths.push(row.tagPath);
  }
  return out;
}

function tagFilterStore(db: Database.Database): Synchronous<TagFilterStore> {
  const q = {
    list: db.prepare<[number, number], TagFilter>(
      'SELECT id, name, tagFilterType FROM TagFilters ORDER BY id LIMIT ? OFFSET ?',
    ),
    byId: db.prepare<[number], TagFilter>('SELECT id, name, tagFilterType FROM TagFilters WHERE id = ?'),
    insert: db.prepare<[string, string]>('INSERT INTO TagFilters (name, tagFilterType) VALUES (?, ?)'),
    delete: db.prepare<[number]>('DELETE FROM TagFilters WHERE id = ?'),
    listPaths: db.prepare<[number, number, number], TagFilterTagPathRow>(
      'SELECT id, tagFilterId, tagPath FROM TagFilterTagPaths WHERE tagFilterId = ? ORDER BY id LIMIT ? OFFSET ?',
    ),
    pathById: db.prepare<[number], TagFilterTagPathRow>(
      'SELECT id, tagFilterId, tagPath FROM TagFilterTagPaths WHERE id = ?',
    ),
    insertPath: db.prepare<[number, string]>(
      'INSERT INTO TagFilterTagPaths (tagFilterId, tagPath) VALUES (?, ?)',
    ),
    deletePath: db.prepare<[number, number]>(
      'DELETE FROM TagFilterTagPaths WHERE tagFilterId = ? AND id = ?',
    ),
    listAssociations: db.prepare<[number, number], SourceTagFilter>(
      `${ASSOCIATION} ORDER BY a.id LIMIT ? OFFSET ?`,
    ),
    associationById: db.prepare<[number], SourceTagFilter>(`${ASSOCIATION} WHERE a.id = ?`),
    associationOf: db.prepare<[string, number, number], SourceTagFilter>(
      `${ASSOCIATION} WHERE a.sourceType = ? AND a.sourceId = ? AND a.tagFilterId = ?`,
    ),
    insertAssociation: db.prepare<[string, string, number, number]>(
      `INSERT INTO SourceTagFilters (sourceType, sourceName, sourceId, tagFilterId) VALUES (?, ?, ?, ?)
       ON CONFLICT (sourceType, sourceId, tagFilterId) DO NOTHING`,
    ),
    deleteAssociation: db.prepare<[number]>('DELETE FROM SourceTagFilters WHERE id = ?'),
    deleteAssociationsOf: db.prepare<[string, number]>(
      'DELETE FROM SourceTagFilters WHERE sourceType = ? AND sourceId = ?',
    ),
    associated: db.prepare<[], AssociatedRow>(
      `SELECT a.sourceType, a.sourceId, f.id, f.name, f.tagFilterType, p.tagPath
         FROM SourceTagFilters a JOIN TagFilters f ON f.id = a.tagFilterId
         LEFT JOIN TagFilterTagPaths p ON p.tagFilterId = f.id
        ORDER BY a.sourceType, a.sourceId, f.id, p.id`,
    ),
  };
  return {
    listTagFilters: (startIndex, count) => q.list.all(count, startIndex),
    tagFilter: (id) => q.byId.get(id),
    insertTagFilter: ({ name, tagFilterType }) =>
      q.byId.get(Number(q.insert.run(name, tagFilterType).lastInsertRowid))!,
    deleteTagFilter: (id) => q.delete.run(id).changes === 1,
    listTagFilterTagPaths: (tagFilterId, startIndex, count) =>
      q.listPaths.all(tagFilterId, count, startIndex),
    insertTagFilterTagPath: (tagFilterId, tagPath) =>
      q.pathById.get(Number(q.insertPath.run(tagFilterId, tagPath).lastInsertRowid))!,
    deleteTagFilterTagPath: (tagFilterId, id) => q.deletePath.run(tagFilterId, id).changes === 1,
    listSourceTagFilters: (startIndex, count) => q.listAssociations.all(count, startIndex),
    insertSourceTagFilter: ({ sourceType, sourceName, sourceId, tagFilterId }) => {
      q.insertAssociation.run(sourceType, sourceName, sourceId, tagFilterId);
      return q.associationOf.get(sourceType, sourceId, tagFilterId)!;
    },
    deleteSourceTagFilter: (id) => q.deleteAssociation.run(id).changes === 1,
    deleteSourceTagFiltersOf: ({ sourceType, sourceId }) =>
      q.deleteAssociationsOf.run(sourceType, sourceId).changes,
    associatedTagFilters: () => groupAssociated(q.associated.all()),
  };
}

export const tagFilters: StatePart<TagFilterStore> = {
  schema: SCHEMA,
  create: (db) => settled<TagFilterStore>(tagFilterStore(db)),
};

/**
 * Export sets in the state store: the image ids of one zip download, as a JSON array, with the time the set
 * was made so that expired sets can be told apart and removed.
 */
import type Database from 'better-sqlite3';
import type { ExportSet, ExportSetStore } from './store.js';
import type { StatePart } from '../storage/sqlite-state-part.js';
import { settled, type Synchronous } from '../storage/settled.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ExportSets (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  imageIds TEXT NOT NULL,
  createdAt INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ExportSetsByCreation ON ExportSets (createdAt);
`;

/** A row of ExportSets: the image ids as a JSON array. */
export interface ExportSetRow {
  id: number;
  imageIds: string;
  createdAt: number;
}

export const exportSetOf = (row: ExportSetRow): ExportSet => ({
  id: row.id,
  imageIds: JSON.parse(row.imageIds) as number[],
  createdAt: row.createdAt,
});

function exportSetStore(db: Database.Database): Synchronous<ExportSetStore> {
  const q = {
    insert: db.prepare<[string, number]>('INSERT INTO ExportSets (imageIds, createdAt) VALUES (?, ?)'),
    byId: db.prepare<[number], ExportSetRow>('SELECT id, imageIds, createdAt FROM ExportSets WHERE id = ?'),
    deleteBefore: db.prepare<[number]>('DELETE FROM ExportSets WHERE createdAt < ?'),
  };
  return {
    insertExportSet: (imageIds, createdAt) => {
      const id = Number(q.insert.run(JSON.stringify(imageIds), createdAt).lastInsertRowid);
      return { id, imageIds: [...imageIds], createdAt };
    },
    exportSet: (id): ExportSet | undefined => {
      const row = q.byId.get(id);
      return row && exportSetOf(row);
    },
    deleteExportSetsCreatedBefore: (before) => q.deleteBefore.run(before).changes,
  };
}

export const exportSets: StatePart<ExportSetStore> = {
  schema: SCHEMA,
  create: (db) => settled<ExportSetStore>(exportSetStore(db)),
};

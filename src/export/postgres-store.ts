/**
 * Export sets in the PostgreSQL state store: the same table as the SQLite part (sqlite-store.ts), whose row
 * mapper this part shares; the image ids stay a JSON array in text.
 */
import type { PgStatePart } from '../storage/postgres-state/part.js';
import { postgresSchema } from '../storage/postgres-state/part.js';
import type { ExportSetStore } from './store.js';
import { exportSetOf, type ExportSetRow, exportSets as sqliteExportSets } from './sqlite-store.js';

/** The SQLite part's tables, as PostgreSQL takes them. */
const SCHEMA = postgresSchema(sqliteExportSets.schema);

export const exportSets: PgStatePart<ExportSetStore> = {
  schema: SCHEMA,
  create: (db) => ({
    insertExportSet: async (imageIds, createdAt) => {
      const row = await db.row<{ id: number }>(
        'INSERT INTO ExportSets (imageIds, createdAt) VALUES ($1, $2) RETURNING id',
        [JSON.stringify(imageIds), createdAt],
      );
      return { id: row!.id, imageIds: [...imageIds], createdAt };
    },
    exportSet: async (id) => {
      const row = await db.row<ExportSetRow>('SELECT id, imageIds, createdAt FROM ExportSets WHERE id = $1', [
        id,
      ]);
      return row && exportSetOf(row);
    },
    deleteExportSetsCreatedBefore: (before) =>
      db.run('DELETE FROM ExportSets WHERE createdAt < $1', [before]),
  }),
};

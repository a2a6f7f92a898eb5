/** The log (Slicebox's `LogEntry`) in the PostgreSQL state store, newest first: the SQLite part's table. */
import type { PgStatePart } from '../storage/postgres-state/part.js';
import { postgresSchema } from '../storage/postgres-state/part.js';
import type { LogEntry, LogStore } from './store.js';
import { COLUMNS, log as sqliteLog } from './sqlite-store.js';

/** The SQLite part's tables, as PostgreSQL takes them. */
const SCHEMA = postgresSchema(sqliteLog.schema);

export const log: PgStatePart<LogStore> = {
  schema: SCHEMA,
  create: (db) => ({
    insertLogEntry: async (entry) => {
      const row = await db.row<{ id: number }>(
        'INSERT INTO LogEntries (created, entryType, subject, message) VALUES ($1, $2, $3, $4) RETURNING id',
        [entry.created, entry.entryType, entry.subject, entry.message],
      );
      return { id: row!.id, ...entry };
    },
    listLogEntries: ({ startIndex, count, subject, entryType }) => {
      // Only the filters given become conditions (a NULL parameter has no type to compare with).
      const params: unknown[] = [];
      const where = [
        ...(subject != null ? [`subject = $${params.push(subject)}`] : []),
        ...(entryType != null ? [`entryType = $${params.push(entryType)}`] : []),
      ];
      return db.rows<LogEntry>(
        `SELECT ${COLUMNS} FROM LogEntries ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
          ORDER BY id DESC LIMIT $${params.push(count)} OFFSET $${params.push(startIndex)}`,
        params,
      );
    },
    deleteLogEntry: async (id) => (await db.run('DELETE FROM LogEntries WHERE id = $1', [id])) === 1,
    clearLog: () => db.run('DELETE FROM LogEntries'),
  }),
};

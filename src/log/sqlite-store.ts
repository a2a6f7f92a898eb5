/** The log (Slicebox's `LogEntry`), newest first. */
import type Database from 'better-sqlite3';
import type { LogEntry, LogEntryType, LogStore } from './store.js';
import type { StatePart } from '../storage/sqlite-state-part.js';
import { settled, type Synchronous } from '../storage/settled.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS LogEntries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created INTEGER NOT NULL,
  entryType TEXT NOT NULL CHECK (entryType IN ('DEFAULT', 'INFO', 'WARN', 'ERROR')),
  subject TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS LogEntriesBySubject ON LogEntries (subject, id);
CREATE INDEX IF NOT EXISTS LogEntriesByType ON LogEntries (entryType, id);
`;

export const COLUMNS = 'id, created, entryType, subject, message';

function logStore(db: Database.Database): Synchronous<LogStore> {
  const q = {
    insert: db.prepare<[number, LogEntryType, string, string]>(
      'INSERT INTO LogEntries (created, entryType, subject, message) VALUES (?, ?, ?, ?)',
    ),
    // NULL parameters mean "any": one statement for every combination of filters.
    list: db.prepare<
      [string | null, string | null, LogEntryType | null, LogEntryType | null, number, number],
      LogEntry
    >(
      `SELECT ${COLUMNS} FROM LogEntries
        WHERE (? IS NULL OR subject = ?) AND (? IS NULL OR entryType = ?)
        ORDER BY id DESC LIMIT ? OFFSET ?`,
    ),
    delete: db.prepare<[number]>('DELETE FROM LogEntries WHERE id = ?'),
    clear: db.prepare('DELETE FROM LogEntries'),
  };
  return {
    insertLogEntry: (entry) => {
      const id = Number(
        q.insert.run(entry.created, entry.entryType, entry.subject, entry.message).lastInsertRowid,
      );
      return { id, ...entry };
    },
    listLogEntries: ({ startIndex, count, subject, entryType }) =>
      q.list.all(subject ?? null, subject ?? null, entryType ?? null, entryType ?? null, count, startIndex),
    deleteLogEntry: (id) => q.delete.run(id).changes === 1,
    clearLog: () => q.clear.run().changes,
  };
}

export const log: StatePart<LogStore> = { schema: SCHEMA, create: (db) => settled<LogStore>(logStore(db)) };

/** SCUs: remote C-STORE SCPs we send to (Slicebox's `ScuData`). Names and host+port pairs are unique. */
import type Database from 'better-sqlite3';
import type { ScuData, ScuStore } from './store.js';
import { BadRequestError } from '../errors.js';
import type { StatePart } from '../storage/sqlite-state-part.js';
import { settled, type Synchronous } from '../storage/settled.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS Scus (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  aeTitle TEXT NOT NULL,
  host TEXT NOT NULL,
  port INTEGER NOT NULL,
  UNIQUE (host, port)
);
`;

/** The refusal of an SCU whose name is taken. */
export const scuNameTaken = (name: string) => new BadRequestError(`an SCU named "${name}" already exists`);
/** The refusal of an SCU whose host and port are those of SCU `other`. */
export const scuAddressTaken = (other: string, host: string, port: number) =>
  new BadRequestError(`SCU "${other}" already sends to ${host}:${port}`);

function scuStore(db: Database.Database): Synchronous<ScuStore> {
  const q = {
    list: db.prepare<[number, number], ScuData>(
      'SELECT id, name, aeTitle, host, port FROM Scus ORDER BY id LIMIT ? OFFSET ?',
    ),
    byId: db.prepare<[number], ScuData>('SELECT id, name, aeTitle, host, port FROM Scus WHERE id = ?'),
    byName: db.prepare<[string], ScuData>('SELECT id FROM Scus WHERE name = ?'),
    byAddress: db.prepare<[string, number], ScuData>('SELECT id, name FROM Scus WHERE host = ? AND port = ?'),
    insert: db.prepare<[string, string, string, number]>(
      'INSERT INTO Scus (name, aeTitle, host, port) VALUES (?, ?, ?, ?)',
    ),
    delete: db.prepare<[number]>('DELETE FROM Scus WHERE id = ?'),
  };
  return {
    listScus: (startIndex, count) => q.list.all(count, startIndex),
    scu: (id) => q.byId.get(id),
    insertScu: ({ name, aeTitle, host, port }) => {
      if (q.byName.get(name)) throw scuNameTaken(name);
      const other = q.byAddress.get(host, port);
      if (other) throw scuAddressTaken(other.name, host, port);
      return q.byId.get(Number(q.insert.run(name, aeTitle, host, port).lastInsertRowid))!;
    },
    deleteScu: (id) => q.delete.run(id).changes === 1,
  };
}

export const scus: StatePart<ScuStore> = { schema: SCHEMA, create: (db) => settled<ScuStore>(scuStore(db)) };

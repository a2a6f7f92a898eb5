/**
 * SCUs in the PostgreSQL state store: remote C-STORE SCPs we send to (Slicebox's `ScuData`), the SQLite
 * part's table (sqlite-scus.ts). Names and host+port pairs are unique: an insert that meets a taken one (also
 * one another process inserts at the same time) is refused with the SQLite part's BadRequestError.
 */
import type { PgStatePart } from '../storage/postgres-state/part.js';
import { postgresSchema } from '../storage/postgres-state/part.js';
import type { ScuData, ScuStore } from './store.js';
import { scuAddressTaken, scuNameTaken, scus as sqliteScus } from './sqlite-scus.js';

/** The SQLite part's table, as PostgreSQL takes it. */
const SCHEMA = postgresSchema(sqliteScus.schema);

const SCU = 'SELECT id, name, aeTitle, host, port FROM Scus';

export const scus: PgStatePart<ScuStore> = {
  schema: SCHEMA,
  create: (db) => ({
    listScus: (startIndex, count) =>
      db.rows<ScuData>(`${SCU} ORDER BY id LIMIT $1 OFFSET $2`, [count, startIndex]),
    scu: (id) => db.row<ScuData>(`${SCU} WHERE id = $1`, [id]),
    insertScu: async ({ name, aeTitle, host, port }) => {
      for (;;) {
        if (await db.row('SELECT id FROM Scus WHERE name = $1', [name])) throw scuNameTaken(name);
        const other = await db.row<{ name: string }>('SELECT name FROM Scus WHERE host = $1 AND port = $2', [
          host,
          port,
        ]);
        if (other) throw scuAddressTaken(other.name, host, port);
        // Another process may insert the same name or address meanwhile: DO NOTHING waits for it, skips this
        // one, and the checks above name what it took.
        const inserted = await db.row<ScuData>(
          `INSERT INTO Scus (name, aeTitle, host, port) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING RETURNING id, name, aeTitle, host, port`,
          [name, aeTitle, host, port],
        );
        if (inserted) return inserted;
      }
    },
    deleteScu: async (id) => (await db.run('DELETE FROM Scus WHERE id = $1', [id])) === 1,
  }),
};

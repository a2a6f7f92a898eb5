/**
 * SCPs, watched directories and import sessions in the PostgreSQL state store: the same tables as the SQLite
 * part (sqlite-store.ts), whose row mapper and counters this part shares. Ids of managed SCPs and watched
 * directories start above STATIC_SOURCE_ID_MAX (those below are for the sources of pipeline files); a port,
 * a path and a session name are each taken once. `user` is quoted, a reserved word in PostgreSQL.
 */
import type { PgStatePart } from '../storage/postgres-state/part.js';
import { postgresSchema } from '../storage/postgres-state/part.js';
import type { ImportSession, ManagedSourceStore, WatchedDirectory } from './store.js';
import { COUNT_SQL, scpData, type ScpRow, managedSources as sqliteManagedSources } from './sqlite-store.js';
import { STATIC_SOURCE_ID_MAX } from '../pipeline/origin.js';

/** The SQLite part's tables, as PostgreSQL takes them. */
const SCHEMA = postgresSchema(sqliteManagedSources.schema, {
  Scps: STATIC_SOURCE_ID_MAX + 1,
  WatchedDirectories: STATIC_SOURCE_ID_MAX + 1,
});

const SCP = 'SELECT id, name, aeTitle, port, queryRetrieve FROM Scps';
const DIR = 'SELECT id, name, path FROM WatchedDirectories';
const SESSION_COLUMNS =
  'id, name, userId, "user", filesImported, filesAdded, filesRejected, created, lastUpdated';
const SESSION = `SELECT ${SESSION_COLUMNS} FROM ImportSessions`;

export const managedSources: PgStatePart<ManagedSourceStore> = {
  schema: SCHEMA,
  create: (db) => ({
    listScps: async (startIndex, count) =>
      (await db.rows<ScpRow>(`${SCP} ORDER BY id LIMIT $1 OFFSET $2`, [count, startIndex])).map(scpData),
    scp: async (id) => {
      const row = await db.row<ScpRow>(`${SCP} WHERE id = $1`, [id]);
      return row && scpData(row);
    },
    insertScp: async (scp) =>
      scpData(
        (await db.row<ScpRow>(
          `INSERT INTO Scps (name, aeTitle, port, queryRetrieve) VALUES ($1, $2, $3, $4)
             RETURNING id, name, aeTitle, port, queryRetrieve`,
          [scp.name, scp.aeTitle, scp.port, scp.queryRetrieve ? 1 : 0],
        ))!,
      ),
    deleteScp: async (id) => (await db.run('DELETE FROM Scps WHERE id = $1', [id])) > 0,
    listWatchedDirectories: (startIndex, count) =>
      db.rows<WatchedDirectory>(`${DIR} ORDER BY id LIMIT $1 OFFSET $2`, [count, startIndex]),
    watchedDirectory: (id) => db.row<WatchedDirectory>(`${DIR} WHERE id = $1`, [id]),
    insertWatchedDirectory: async (dir) =>
      (await db.row<WatchedDirectory>(
        'INSERT INTO WatchedDirectories (name, path) VALUES ($1, $2) RETURNING id, name, path',
        [dir.name, dir.path],
      ))!,
    deleteWatchedDirectory: async (id) =>
      (await db.run('DELETE FROM WatchedDirectories WHERE id = $1', [id])) > 0,
    listImportSessions: (startIndex, count) =>
      db.rows<ImportSession>(`${SESSION} ORDER BY id LIMIT $1 OFFSET $2`, [count, startIndex]),
    importSession: (id) => db.row<ImportSession>(`${SESSION} WHERE id = $1`, [id]),
    importSessionByName: (name) => db.row<ImportSession>(`${SESSION} WHERE name = $1`, [name]),
    insertImportSession: async (session, now) =>
      (await db.row<ImportSession>(
        `INSERT INTO ImportSessions (name, userId, "user", created, lastUpdated) VALUES ($1, $2, $3, $4, $4)
           RETURNING ${SESSION_COLUMNS}`,
        [session.name, session.userId, session.user, now],
      ))!,
    deleteImportSession: async (id) => (await db.run('DELETE FROM ImportSessions WHERE id = $1', [id])) > 0,
    countImport: (id, counter, imageId, now) =>
      db.atomic(async (db) => {
        // The counter's SET clause comes from a fixed table, never from the caller.
        const session = await db.row<ImportSession>(
          `UPDATE ImportSessions SET ${COUNT_SQL[counter]}, lastUpdated = $1 WHERE id = $2
             RETURNING ${SESSION_COLUMNS}`,
          [now, id],
        );
        if (!session) throw new Error(`import session ${id} does not exist`);
        if (imageId !== undefined)
          await db.run(
            `INSERT INTO ImportSessionImages (importSessionId, imageId) VALUES ($1, $2)
               ON CONFLICT DO NOTHING`,
            [id, imageId],
          );
        return session;
      }),
    importSessionImageIds: async (id) =>
      (
        await db.rows<{ imageId: number }>(
          'SELECT imageId FROM ImportSessionImages WHERE importSessionId = $1 ORDER BY imageId',
          [id],
        )
      ).map((r) => r.imageId),
  }),
};

/**
 * SCPs, watched directories and import sessions managed through the API, in the state store. The default
 * pipeline's `managed_sources` source follows them (src/sources/managed-sources.ts).
 */
import type Database from 'better-sqlite3';
import type { ImportCounter, ImportSession, ManagedSourceStore, ScpData, WatchedDirectory } from './store.js';
import type { StatePart } from '../storage/sqlite-state-part.js';
import { settled, type Synchronous } from '../storage/settled.js';
import { STATIC_SOURCE_ID_MAX } from '../pipeline/origin.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS Scps (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  aeTitle TEXT NOT NULL,
  port INTEGER NOT NULL UNIQUE,
  queryRetrieve INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS WatchedDirectories (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  path TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS ImportSessions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  userId INTEGER NOT NULL,
  user TEXT NOT NULL,
  filesImported INTEGER NOT NULL DEFAULT 0,
  filesAdded INTEGER NOT NULL DEFAULT 0,
  filesRejected INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL,
  lastUpdated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ImportSessionImages (
  importSessionId INTEGER NOT NULL REFERENCES ImportSessions (id) ON DELETE CASCADE,
  imageId INTEGER NOT NULL,
  PRIMARY KEY (importSessionId, imageId)
);
-- Ids 1..${STATIC_SOURCE_ID_MAX} are for the scp and watch_folder sources of pipeline files: managed ones start above.
INSERT INTO sqlite_sequence (name, seq) SELECT 'Scps', ${STATIC_SOURCE_ID_MAX}
  WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'Scps');
INSERT INTO sqlite_sequence (name, seq) SELECT 'WatchedDirectories', ${STATIC_SOURCE_ID_MAX}
  WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'WatchedDirectories');
`;

/** SCPs made before Q/R could be switched per SCP offer it, as they did. */
function addQueryRetrieveColumn(db: Database.Database): void {
  const columns = db.prepare<[], { name: string }>('PRAGMA table_info(Scps)').all();
  if (!columns.length || columns.some((c) => c.name === 'queryRetrieve')) return;
  db.exec('ALTER TABLE Scps ADD COLUMN queryRetrieve INTEGER NOT NULL DEFAULT 1');
}

export interface ScpRow extends Omit<ScpData, 'queryRetrieve'> {
  queryRetrieve: number;
}
export const scpData = (row: ScpRow): ScpData => ({ ...row, queryRetrieve: row.queryRetrieve !== 0 });
const SCP = 'SELECT id, name, aeTitle, port, queryRetrieve FROM Scps';

const SESSION = `SELECT id, name, userId, user, filesImported, filesAdded, filesRejected, created, lastUpdated
  FROM ImportSessions`;

/** What each outcome of an imported file adds to its session's counters (SET clauses). */
export const COUNT_SQL: Record<ImportCounter, string> = {
  added: 'filesImported = filesImported + 1, filesAdded = filesAdded + 1',
  duplicate: 'filesImported = filesImported + 1',
  rejected: 'filesRejected = filesRejected + 1',
};

function managedSourceStore(db: Database.Database): Synchronous<ManagedSourceStore> {
  const q = {
    listScps: db.prepare<[number, number], ScpRow>(`${SCP} ORDER BY id LIMIT ? OFFSET ?`),
    scp: db.prepare<[number], ScpRow>(`${SCP} WHERE id = ?`),
    insertScp: db.prepare<[string, string, number, number]>(
      'INSERT INTO Scps (name, aeTitle, port, queryRetrieve) VALUES (?, ?, ?, ?)',
    ),
    deleteScp: db.prepare<[number]>('DELETE FROM Scps WHERE id = ?'),
    listDirs: db.prepare<[number, number], WatchedDirectory>(
      'SELECT id, name, path FROM WatchedDirectories ORDER BY id LIMIT ? OFFSET ?',
    ),
    dir: db.prepare<[number], WatchedDirectory>('SELECT id, name, path FROM WatchedDirectories WHERE id = ?'),
    insertDir: db.prepare<[string, string]>('INSERT INTO WatchedDirectories (name, path) VALUES (?, ?)'),
    deleteDir: db.prepare<[number]>('DELETE FROM WatchedDirectories WHERE id = ?'),
    listSessions: db.prepare<[number, number], ImportSession>(`${SESSION} ORDER BY id LIMIT ? OFFSET ?`),
    session: db.prepare<[number], ImportSession>(`${SESSION} WHERE id = ?`),
    sessionByName: db.prepare<[string], ImportSession>(`${SESSION} WHERE name = ?`),
    insertSession: db.prepare<[string, number, string, number, number]>(
      'INSERT INTO ImportSessions (name, userId, user, created, lastUpdated) VALUES (?, ?, ?, ?, ?)',
    ),
    deleteSession: db.prepare<[number]>('DELETE FROM ImportSessions WHERE id = ?'),
    count: Object.fromEntries(
      Object.entries(COUNT_SQL).map(([k, sql]) => [
        k,
        db.prepare<[number, number]>(`UPDATE ImportSessions SET ${sql}, lastUpdated = ? WHERE id = ?`),
      ]),
    ) as Record<ImportCounter, Database.Statement<[number, number]>>,
    link: db.prepare<[number, number]>(
      'INSERT OR IGNORE INTO ImportSessionImages (importSessionId, imageId) VALUES (?, ?)',
    ),
    imageIds: db.prepare<[number], { imageId: number }>(
      'SELECT imageId FROM ImportSessionImages WHERE importSessionId = ? ORDER BY imageId',
    ),
  };
  const countImport = db.transaction(
    (id: number, counter: ImportCounter, imageId: number | undefined, now: number) => {
      q.count[counter].run(now, id);
      if (imageId !== undefined) q.link.run(id, imageId);
      return q.session.get(id);
    },
  );
  return {
    listScps: (startIndex, count) => q.listScps.all(count, startIndex).map(scpData),
    scp: (id) => {
      const row = q.scp.get(id);
      return row && scpData(row);
    },
    insertScp: (scp) => ({
      ...scp,
      id: Number(q.insertScp.run(scp.name, scp.aeTitle, scp.port, scp.queryRetrieve ? 1 : 0).lastInsertRowid),
    }),
    deleteScp: (id) => q.deleteScp.run(id).changes > 0,
    listWatchedDirectories: (startIndex, count) => q.listDirs.all(count, startIndex),
    watchedDirectory: (id) => q.dir.get(id),
    insertWatchedDirectory: (dir) => ({
      ...dir,
      id: Number(q.insertDir.run(dir.name, dir.path).lastInsertRowid),
    }),
    deleteWatchedDirectory: (id) => q.deleteDir.run(id).changes > 0,
    listImportSessions: (startIndex, count) => q.listSessions.all(count, startIndex),
    importSession: (id) => q.session.get(id),
    importSessionByName: (name) => q.sessionByName.get(name),
    insertImportSession: (session, now) => {
      const id = Number(
        q.insertSession.run(session.name, session.userId, session.user, now, now).lastInsertRowid,
      );
      return q.session.get(id)!;
    },
    deleteImportSession: (id) => q.deleteSession.run(id).changes > 0,
    countImport: (id, counter, imageId, now) => {
      const session = countImport(id, counter, imageId, now);
      if (!session) throw new Error(`import session ${id} does not exist`);
      return session;
    },
    importSessionImageIds: (id) => q.imageIds.all(id).map((r) => r.imageId),
  };
}

export const managedSources: StatePart<ManagedSourceStore> = {
  schema: SCHEMA,
  migrate: addQueryRetrieveColumn,
  create: (db) => settled<ManagedSourceStore>(managedSourceStore(db)),
};

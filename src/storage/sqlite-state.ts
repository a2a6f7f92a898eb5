/**
 * The state store in SQLite (`<data dir>/state.sqlite`): what users manage at run time, kept apart from the
 * metadata index, which can be rebuilt from the stored files while this cannot. Users, sessions and login
 * throttling so far. Every value is a bound parameter.
 */
import Database from 'better-sqlite3';
import type { Role, StateStore, UserInfo, UserStore } from '../ports.js';
import { seriesTypes } from '../series-types/sqlite-store.js';
import { tagFilters } from '../tag-filters/sqlite-store.js';
import { log } from '../log/sqlite-store.js';
import { scus } from '../forwarding/sqlite-scus.js';
import { forwarding } from '../forwarding/sqlite-store.js';
import { managedSources } from '../managed-sources/sqlite-store.js';
import { exportSets } from '../export/sqlite-store.js';
import { anonymizationKeys } from '../anonymization/sqlite-store.js';
import { boxes } from '../boxes/sqlite-store.js';

/**
 * A part of the state store: its tables (CREATE … IF NOT EXISTS) and its methods on the shared database.
 * Each managed resource adds one part in its own file and one line in PARTS below.
 */
export interface StatePart<T> {
  schema: string;
  /** Brings tables of an older file up to date (it runs before `schema`, and checks what it finds). */
  migrate?(db: Database.Database): void;
  create(db: Database.Database): T;
}

/**
 * Bumped with each change to the schema; migrations key on `PRAGMA user_version`. 2: forwarding
 * transactions handed to a box (DELIVERING, `boxTransactionId`).
 */
const SCHEMA_VERSION = 2;

const USERS_SCHEMA = `
CREATE TABLE IF NOT EXISTS Users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('SUPERUSER', 'ADMINISTRATOR', 'USER')),
  passwordHash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS Sessions (
  tokenHash TEXT PRIMARY KEY,
  userId INTEGER NOT NULL REFERENCES Users (id) ON DELETE CASCADE,
  createdAt INTEGER NOT NULL,
  lastUsedAt INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS SessionsByUser ON Sessions (userId);
CREATE INDEX IF NOT EXISTS SessionsByLastUse ON Sessions (lastUsedAt);
CREATE TABLE IF NOT EXISTS LoginFailures (
  key TEXT NOT NULL,
  failedAt INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS LoginFailuresByKey ON LoginFailures (key, failedAt);
CREATE INDEX IF NOT EXISTS LoginFailuresByTime ON LoginFailures (failedAt);
`;

interface UserRow {
  id: number;
  user: string;
  role: Role;
  passwordHash: string;
}

const info = (row: UserRow): UserInfo => ({ id: row.id, user: row.user, role: row.role });

export function openSqliteState(path: string): StateStore {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // What users configure is answered 201 only once it would survive a power cut; writes here are rare.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    db.close();
    throw new Error(`${path} has schema version ${version}; this Sluice knows up to ${SCHEMA_VERSION}`);
  }
  if (version < SCHEMA_VERSION) for (const part of PARTS) part.migrate?.(db);
  for (const part of PARTS) db.exec(part.schema);
  db.pragma(`user_version = ${SCHEMA_VERSION}`);
  return Object.assign({}, ...PARTS.map((part) => part.create(db)), {
    close: () => db.close(),
  }) as StateStore;
}

const users: StatePart<UserStore> = { schema: USERS_SCHEMA, create: userStore };

/** Every part of the state store. */
const PARTS: StatePart<object>[] = [
  users,
  seriesTypes,
  tagFilters,
  managedSources,
  exportSets,
  log,
  scus,
  forwarding,
  anonymizationKeys,
  boxes,
];

function userStore(db: Database.Database): UserStore {
  const q = {
    listUsers: db.prepare<[number, number], UserRow>(
      'SELECT id, user, role FROM Users ORDER BY id LIMIT ? OFFSET ?',
    ),
    userById: db.prepare<[number], UserRow>('SELECT id, user, role FROM Users WHERE id = ?'),
    userByName: db.prepare<[string], UserRow>('SELECT * FROM Users WHERE user = ?'),
    superuser: db.prepare<[], UserRow>(
      "SELECT id, user, role FROM Users WHERE role = 'SUPERUSER' ORDER BY id",
    ),
    insertUser: db.prepare<[string, Role, string]>(
      'INSERT INTO Users (user, role, passwordHash) VALUES (?, ?, ?) ON CONFLICT (user) DO NOTHING',
    ),
    deleteUser: db.prepare<[number]>('DELETE FROM Users WHERE id = ?'),
    insertSession: db.prepare<[string, number, number, number]>(
      'INSERT INTO Sessions (tokenHash, userId, createdAt, lastUsedAt) VALUES (?, ?, ?, ?)',
    ),
    session: db.prepare<[string], UserRow & { lastUsedAt: number }>(
      `SELECT u.id, u.user, u.role, s.lastUsedAt
         FROM Sessions s JOIN Users u ON u.id = s.userId WHERE s.tokenHash = ?`,
    ),
    touchSession: db.prepare<[number, string]>('UPDATE Sessions SET lastUsedAt = ? WHERE tokenHash = ?'),
    deleteSession: db.prepare<[string]>('DELETE FROM Sessions WHERE tokenHash = ?'),
    deleteSessionsOf: db.prepare<[number]>('DELETE FROM Sessions WHERE userId = ?'),
    deleteIdleSessions: db.prepare<[number]>('DELETE FROM Sessions WHERE lastUsedAt < ?'),
    insertFailure: db.prepare<[string, number]>('INSERT INTO LoginFailures (key, failedAt) VALUES (?, ?)'),
    failuresSince: db.prepare<[string, number], { failedAt: number }>(
      'SELECT failedAt FROM LoginFailures WHERE key = ? AND failedAt >= ? ORDER BY failedAt DESC LIMIT 1000',
    ),
    clearFailures: db.prepare<[string]>('DELETE FROM LoginFailures WHERE key = ?'),
    deleteFailuresBefore: db.prepare<[number]>('DELETE FROM LoginFailures WHERE failedAt < ?'),
  };
  const recordFailure = db.transaction((keys: readonly string[], at: number) => {
    for (const key of keys) q.insertFailure.run(key, at);
  });

  return {
    listUsers: (startIndex, count) => q.listUsers.all(count, startIndex).map(info),
    user: (id) => {
      const row = q.userById.get(id);
      return row && info(row);
    },
    credentials: (name) => {
      const row = q.userByName.get(name);
      return row && { user: info(row), passwordHash: row.passwordHash };
    },
    superuser: () => {
      const row = q.superuser.get();
      return row && info(row);
    },
    insertUser: ({ user, role, passwordHash }) => {
      const created = q.insertUser.run(user, role, passwordHash).changes === 1;
      return { user: info(q.userByName.get(user)!), created };
    },
    updateUser: (id, change) => {
      // Column names come from this fixed list, never from the caller.
      const columns = (['user', 'role', 'passwordHash'] as const).filter((k) => change[k] !== undefined);
      if (!columns.length) return;
      db.prepare(`UPDATE Users SET ${columns.map((k) => `${k} = ?`).join(', ')} WHERE id = ?`).run(
        ...columns.map((k) => change[k]),
        id,
      );
    },
    deleteUser: (id) => q.deleteUser.run(id).changes === 1,
    insertSession: ({ tokenHash, userId, createdAt }) =>
      void q.insertSession.run(tokenHash, userId, createdAt, createdAt),
    session: (tokenHash) => {
      const row = q.session.get(tokenHash);
      return row && { user: info(row), lastUsedAt: row.lastUsedAt };
    },
    touchSession: (tokenHash, lastUsedAt) => void q.touchSession.run(lastUsedAt, tokenHash),
    deleteSession: (tokenHash) => void q.deleteSession.run(tokenHash),
    deleteSessionsOf: (userId) => void q.deleteSessionsOf.run(userId),
    deleteSessionsIdleSince: (before) => q.deleteIdleSessions.run(before).changes,
    recordLoginFailure: (keys, at) => recordFailure(keys, at),
    loginFailuresSince: (key, since) => q.failuresSince.all(key, since).map((r) => r.failedAt),
    clearLoginFailures: (key) => void q.clearFailures.run(key),
    deleteLoginFailuresBefore: (before) => void q.deleteFailuresBefore.run(before),
  };
}

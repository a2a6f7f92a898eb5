/**
 * The users part of the state store in SQLite: users, sessions (by token hash) and login failures.
 */
import type Database from 'better-sqlite3';
import type { StatePart } from '../storage/sqlite-state-part.js';
import { settled, type Synchronous } from '../storage/settled.js';
import type { Role, UserInfo, UserStore } from './store.js';

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

export const users: StatePart<UserStore> = {
  schema: USERS_SCHEMA,
  create: (db) => settled<UserStore>(userStore(db)),
};

function userStore(db: Database.Database): Synchronous<UserStore> {
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

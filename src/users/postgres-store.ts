/**
 * The users part of the state store in PostgreSQL: users, sessions (by token hash) and login failures. The
 * same tables as the SQLite part (sqlite-store.ts); `user` is quoted, a reserved word in PostgreSQL.
 */
import { users as sqliteUsers } from './sqlite-store.js';
import type { PgStatePart } from '../storage/postgres-state/part.js';
import { postgresSchema } from '../storage/postgres-state/part.js';
import type { Role, UserInfo, UserStore } from './store.js';

/** The SQLite part's tables, as PostgreSQL takes them. */
const SCHEMA = postgresSchema(sqliteUsers.schema);

interface UserRow {
  id: number;
  user: string;
  role: Role;
  passwordHash: string;
}

const info = (row: UserRow): UserInfo => ({ id: row.id, user: row.user, role: row.role });
const USER = 'SELECT id, "user", role, passwordHash FROM Users';

export const users: PgStatePart<UserStore> = {
  schema: SCHEMA,
  create: (db) => ({
    listUsers: async (startIndex, count) =>
      (await db.rows<UserRow>(`${USER} ORDER BY id LIMIT $1 OFFSET $2`, [count, startIndex])).map(info),
    user: async (id) => {
      const row = await db.row<UserRow>(`${USER} WHERE id = $1`, [id]);
      return row && info(row);
    },
    credentials: async (name) => {
      const row = await db.row<UserRow>(`${USER} WHERE "user" = $1`, [name]);
      return row && { user: info(row), passwordHash: row.passwordHash };
    },
    superuser: async () => {
      const row = await db.row<UserRow>(`${USER} WHERE role = 'SUPERUSER' ORDER BY id LIMIT 1`);
      return row && info(row);
    },
    insertUser: async ({ user, role, passwordHash }) => {
      const inserted = await db.row<UserRow>(
        `INSERT INTO Users ("user", role, passwordHash) VALUES ($1, $2, $3)
           ON CONFLICT ("user") DO NOTHING RETURNING id, "user", role`,
        [user, role, passwordHash],
      );
      if (inserted) return { user: info(inserted), created: true };
      return { user: info((await db.row<UserRow>(`${USER} WHERE "user" = $1`, [user]))!), created: false };
    },
    updateUser: async (id, change) => {
      // Column names come from this fixed list, never from the caller.
      const columns = (['user', 'role', 'passwordHash'] as const).filter((k) => change[k] !== undefined);
      if (!columns.length) return;
      const set = columns.map((k, i) => `${k === 'user' ? '"user"' : k} = $${i + 1}`).join(', ');
      await db.run(`UPDATE Users SET ${set} WHERE id = $${columns.length + 1}`, [
        ...columns.map((k) => change[k]),
        id,
      ]);
    },
    deleteUser: async (id) => (await db.run('DELETE FROM Users WHERE id = $1', [id])) === 1,
    insertSession: async ({ tokenHash, userId, createdAt }) =>
      void (await db.run(
        'INSERT INTO Sessions (tokenHash, userId, createdAt, lastUsedAt) VALUES ($1, $2, $3, $3)',
        [tokenHash, userId, createdAt],
      )),
    session: async (tokenHash) => {
      const row = await db.row<UserRow & { lastUsedAt: number }>(
        `SELECT u.id, u."user", u.role, s.lastUsedAt
           FROM Sessions s JOIN Users u ON u.id = s.userId WHERE s.tokenHash = $1`,
        [tokenHash],
      );
      return row && { user: info(row), lastUsedAt: row.lastUsedAt };
    },
    touchSession: async (tokenHash, lastUsedAt) =>
      void (await db.run('UPDATE Sessions SET lastUsedAt = $1 WHERE tokenHash = $2', [
        lastUsedAt,
        tokenHash,
      ])),
    deleteSession: async (tokenHash) =>
      void (await db.run('DELETE FROM Sessions WHERE tokenHash = $1', [tokenHash])),
    deleteSessionsOf: async (userId) =>
      void (await db.run('DELETE FROM Sessions WHERE userId = $1', [userId])),
    deleteSessionsIdleSince: (before) => db.run('DELETE FROM Sessions WHERE lastUsedAt < $1', [before]),
    recordLoginFailure: async (keys, at) =>
      void (await db.run('INSERT INTO LoginFailures (key, failedAt) SELECT unnest($1::text[]), $2', [
        [...keys],
        at,
      ])),
    loginFailuresSince: async (key, since) =>
      (
        await db.rows<{ failedAt: number }>(
          'SELECT failedAt FROM LoginFailures WHERE key = $1 AND failedAt >= $2 ORDER BY failedAt DESC LIMIT 1000',
          [key, since],
        )
      ).map((r) => r.failedAt),
    clearLoginFailures: async (key) => void (await db.run('DELETE FROM LoginFailures WHERE key = $1', [key])),
    deleteLoginFailuresBefore: async (before) =>
      void (await db.run('DELETE FROM LoginFailures WHERE failedAt < $1', [before])),
  }),
};

/**
 * The users part of the state store: users, sessions and login throttling. Adapters: sqlite-store.ts, postgres-store.ts.
 */

/** Slicebox's roles; each includes the ones after it. */
export type Role = 'SUPERUSER' | 'ADMINISTRATOR' | 'USER';

/** Slicebox's `UserInfo` (and `ApiUser` without `hashedPassword`, which no route ever answers). */
export interface UserInfo {
  id: number;
  user: string;
  role: Role;
}

export interface UserStore {
  /** Users ordered by id, without password hashes. */
  listUsers(startIndex: number, count: number): Promise<UserInfo[]>;
  user(id: number): Promise<UserInfo | undefined>;
  /** The one place a password hash leaves the store: for verification, never for an answer. */
  credentials(name: string): Promise<{ user: UserInfo; passwordHash: string } | undefined>;
  /** The user holding the role SUPERUSER, if any. */
  superuser(): Promise<UserInfo | undefined>;
  /** Inserts a user unless the name is taken; answers the user with that name either way. */
  insertUser(
    user: Omit<UserInfo, 'id'> & { passwordHash: string },
  ): Promise<{ user: UserInfo; created: boolean }>;
  /** Changes any of name, role and password hash. */
  updateUser(id: number, change: Partial<Omit<UserInfo, 'id'>> & { passwordHash?: string }): Promise<void>;
  /** Deletes the user and their sessions. Returns whether the user existed. */
  deleteUser(id: number): Promise<boolean>;

  /** Sessions are found by the SHA-256 of their token; the token itself is never stored. */
  insertSession(session: { tokenHash: string; userId: number; createdAt: number }): Promise<void>;
  session(tokenHash: string): Promise<{ user: UserInfo; lastUsedAt: number } | undefined>;
  touchSession(tokenHash: string, lastUsedAt: number): Promise<void>;
  deleteSession(tokenHash: string): Promise<void>;
  deleteSessionsOf(userId: number): Promise<void>;
  /** Deletes sessions idle since before `before` (ms epoch). */
  deleteSessionsIdleSince(before: number): Promise<number>;

  /** Records one failed login under each key (a user name key and an address key). */
  recordLoginFailure(keys: readonly string[], at: number): Promise<void>;
  /** Times (ms epoch) of the failures under `key` since `since`, newest first. */
  loginFailuresSince(key: string, since: number): Promise<number[]>;
  clearLoginFailures(key: string): Promise<void>;
  deleteLoginFailuresBefore(before: number): Promise<void>;
}

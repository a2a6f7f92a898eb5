/**
 * Users, sessions and login throttling over a UserStore: what the API's authentication and `/api/users`
 * routes call. Time comes from an injected clock so tests can advance it.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { BadRequestError } from '../errors.js';
import { hashPassword, verifyPassword } from './passwords.js';
import type { Role, UserInfo, UserStore } from './store.js';

/** Higher includes lower: SUPERUSER ⊃ ADMINISTRATOR ⊃ USER. */
const RANK: Record<Role, number> = { USER: 1, ADMINISTRATOR: 2, SUPERUSER: 3 };

export function hasRole(user: Pick<UserInfo, 'role'>, needed: Role): boolean {
  return RANK[user.role] >= RANK[needed];
}

export interface UserServiceOptions {
  /** Sliding expiry: a session unused for this long is gone. */
  sessionTimeoutSecs: number;
  /** Failed logins of one user name from one address tolerated before each attempt waits (default 5). */
  maxFailedLogins?: number;
  /** Failures older than this are forgotten; it also caps the wait (default 15 min). */
  failedLoginWindowSecs?: number;
  /** The wait after `maxFailedLogins` failures; it doubles with each further failure (default 30 s). */
  failedLoginDelaySecs?: number;
  now?: () => number;
}

export type Authentication =
  { kind: 'ok'; user: UserInfo } | { kind: 'invalid' } | { kind: 'throttled'; retryAfterSecs: number };

/** A session token as the client holds it, and how long its cookie should live. */
export interface IssuedSession {
  token: string;
  maxAgeSecs: number;
}

/** Writes are spared: a session's last use is recorded at most this often. */
const TOUCH_INTERVAL_MS = 60_000;
/** Basic authentication runs on every request; a verified user name and password skip scrypt for a while. */
const VERIFIED_TTL_MS = 5 * 60_000;
const VERIFIED_MAX = 1000;

export const tokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');

export class UserService {
  readonly sessionTimeoutSecs: number;
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly delayMs: number;
  private readonly now: () => number;
  /** Keyed by an HMAC (with a key that lives only in this process) of user name and password. */
  private readonly verified = new Map<string, { userId: number; passwordHash: string; until: number }>();
  private readonly verifiedKey = randomBytes(32);
  /** Password checks running, by the same key as `verified` (and the stored hash): one scrypt for them all. */
  private readonly checking = new Map<string, Promise<boolean>>();
  private dummyHash: Promise<string> | undefined;

  constructor(
    private readonly store: UserStore,
    options: UserServiceOptions,
  ) {
    this.sessionTimeoutSecs = options.sessionTimeoutSecs;
    this.maxFailures = options.maxFailedLogins ?? 5;
    this.windowMs = (options.failedLoginWindowSecs ?? 15 * 60) * 1000;
    this.delayMs = (options.failedLoginDelaySecs ?? 30) * 1000;
    this.now = options.now ?? Date.now;
  }

  // ---------------------------------------------------------------- users

  /**
   * Makes the configured superuser exist with this name and password: renames the existing superuser
   * (keeping its id, so its `user:<id>` source stays the same), or promotes a user already holding the
   * name, and re-hashes the password when it changed. A changed password ends the superuser's sessions.
   */
  async ensureSuperuser(name: string, password: string): Promise<UserInfo> {
    const current = await this.store.superuser();
    const holder = await this.store.credentials(name);
    if (holder && holder.user.id !== current?.id) {
      if (current) await this.store.deleteUser(current.id);
      const passwordChanged = !(await verifyPassword(password, holder.passwordHash));
      await this.store.updateUser(holder.user.id, {
        role: 'SUPERUSER',
        ...(passwordChanged ? { passwordHash: await hashPassword(password) } : {}),
      });
      await this.store.deleteSessionsOf(holder.user.id);
      return (await this.store.user(holder.user.id))!;
    }
    if (current) {
      const stored = (await this.store.credentials(current.user))!;
      const passwordChanged = !(await verifyPassword(password, stored.passwordHash));
      if (passwordChanged || current.user !== name) {
        await this.store.updateUser(current.id, {
          user: name,
          ...(passwordChanged ? { passwordHash: await hashPassword(password) } : {}),
        });
        if (passwordChanged) await this.store.deleteSessionsOf(current.id);
      }
      return (await this.store.user(current.id))!;
    }
    return (
      await this.store.insertUser({
        user: name,
        role: 'SUPERUSER',
        passwordHash: await hashPassword(password),
      })
    ).user;
  }

  async list(startIndex: number, count: number): Promise<UserInfo[]> {
    return await this.store.listUsers(startIndex, count);
  }

  async all(): Promise<UserInfo[]> {
    return await this.store.listUsers(0, Number.MAX_SAFE_INTEGER);
  }

  /** Slicebox's add: an existing name answers the existing user, untouched (its password is not changed). */
  async create(input: { user: string; role: Role; password: string }): Promise<UserInfo> {
    if (input.role === 'SUPERUSER')
      throw new BadRequestError('Superusers may not be added; the superuser comes from the configuration');
    const existing = await this.store.credentials(input.user);
    if (existing) return existing.user;
    const passwordHash = await hashPassword(input.password);
    return (await this.store.insertUser({ user: input.user, role: input.role, passwordHash })).user;
  }

  /** Idempotent, as in Slicebox; the superuser cannot be deleted. */
  async delete(id: number): Promise<void> {
    const user = await this.store.user(id);
    if (user?.role === 'SUPERUSER') throw new BadRequestError('The superuser cannot be deleted');
    if (user) await this.store.deleteUser(id);
  }

  // ---------------------------------------------------------------- authentication

  /**
   * Checks a user name and password, for a login and for every Basic-authenticated request alike. Failures
   * are counted per user name *and* address: after `maxFailedLogins` of them within the window, that pair
   * waits before its next attempt (even a correct one), 30 s at first and twice as long after each further
   * failure, up to the window. Guessing stays slow, and nobody can lock a user out from another address:
   * the same name from elsewhere, other names from this address and open sessions are not affected.
   */
  async authenticate(name: string, password: string, address: string): Promise<Authentication> {
    const now = this.now();
    const key = `pair:${JSON.stringify([name, address])}`;
    const retryAfterMs = await this.throttledFor(key, now);
    if (retryAfterMs > 0) return { kind: 'throttled', retryAfterSecs: Math.ceil(retryAfterMs / 1000) };

    const stored = await this.store.credentials(name);
    const cacheKey = createHmac('sha256', this.verifiedKey)
      .update(JSON.stringify([name, password]))
      .digest('base64');
    const hit = this.verified.get(cacheKey);
    if (
      stored &&
      hit &&
      hit.until > now &&
      hit.userId === stored.user.id &&
      hit.passwordHash === stored.passwordHash
    )
      return { kind: 'ok', user: stored.user };

    // An unknown name costs as much as a wrong password, so timing does not tell which names exist. The
    // same name and password checked again while a check runs (a client's first requests, sent together)
    // waits for that check instead of running scrypt once more; each still counts as an attempt.
    const flight = `${cacheKey}:${stored?.passwordHash ?? ''}`;
    let checking = this.checking.get(flight);
    if (!checking) {
      checking = (async () =>
        stored
          ? verifyPassword(password, stored.passwordHash)
          : verifyPassword(
              password,
              await (this.dummyHash ??= hashPassword(randomBytes(16).toString('hex'))),
            ))();
      this.checking.set(flight, checking);
      void checking.finally(() => this.checking.delete(flight)).catch(() => undefined);
    }
    const ok = await checking;
    if (!stored || !ok) {
      await this.store.deleteLoginFailuresBefore(now - this.windowMs);
      await this.store.recordLoginFailure([key], now);
      return { kind: 'invalid' };
    }
    await this.store.clearLoginFailures(key);
    this.verified.delete(cacheKey);
    this.verified.set(cacheKey, {
      userId: stored.user.id,
      passwordHash: stored.passwordHash,
      until: now + VERIFIED_TTL_MS,
    });
    if (this.verified.size > VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value!);
    return { kind: 'ok', user: stored.user };
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  private async throttledFor(key: string, now: number): Promise<number> {
    const failures = await this.store.loginFailuresSince(key, now - this.windowMs);
    if (failures.length < this.maxFailures) return 0;
    const wait = Math.min(this.delayMs * 2 ** (failures.length - this.maxFailures), this.windowMs);
    return Math.max(0, failures[0] + wait - now);
  }

  // ---------------------------------------------------------------- sessions

  async openSession(userId: number): Promise<IssuedSession> {
    const now = this.now();
    await this.store.deleteSessionsIdleSince(now - this.sessionTimeoutSecs * 1000);
    const token = randomBytes(32).toString('base64url');
    await this.store.insertSession({ tokenHash: tokenHash(token), userId, createdAt: now });
    return { token, maxAgeSecs: this.sessionTimeoutSecs };
  }

  /**
   * The user of a live session, refreshing its expiry. `refreshed` says the expiry moved, so the cookie's
   * Max-Age should be sent again.
   */
  async sessionUser(token: string): Promise<{ user: UserInfo; refreshed: boolean } | undefined> {
    const now = this.now();
    const hash = tokenHash(token);
    const session = await this.store.session(hash);
    if (!session) return undefined;
    const timeoutMs = this.sessionTimeoutSecs * 1000;
    if (now - session.lastUsedAt >= timeoutMs) {
      await this.store.deleteSession(hash);
      return undefined;
    }
    const refreshed = now - session.lastUsedAt >= Math.min(TOUCH_INTERVAL_MS, timeoutMs / 2);
    if (refreshed) await this.store.touchSession(hash, now);
    return { user: session.user, refreshed };
  }

  async closeSession(token: string): Promise<void> {
    await this.store.deleteSession(tokenHash(token));
  }
}

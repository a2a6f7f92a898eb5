/**
 * Authentication and authorization, as Slicebox does them: HTTP Basic if the request carries it, else the
 * `slicebox-session` cookie from `POST /api/users/login`. Refusals are plain text, and a 401 carries no
 * `WWW-Authenticate` challenge, so browsers show no popup. Which role a route needs is in ./policy.ts.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { matchedRoutes } from 'hono/route';
import { hasRole, type Authentication, type UserService } from '../users/service.js';
import type { Role, UserInfo } from '../users/store.js';
import { accessFor, defaultAccess } from './policy.js';

export const SESSION_COOKIE = 'slicebox-session';

export type AuthUser = UserInfo;
export type AuthEnv = { Variables: { user: AuthUser } };

/** The peer's address from @hono/node-server; 'unknown' without a socket (as in app.request() tests). */
export function remoteAddress(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}

type Identity = Authentication | { kind: 'anonymous' } | { kind: 'no-session' };

function basicCredentials(header: string): { user: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function setSessionCookie(c: Context, token: string, maxAgeSecs: number): void {
  setCookie(c, SESSION_COOKIE, token, {
    path: '/api',
    httpOnly: true,
    sameSite: 'Strict',
    secure: new URL(c.req.url).protocol === 'https:',
    maxAge: maxAgeSecs,
  });
}

export function clearSessionCookie(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: '/api', httpOnly: true, sameSite: 'Strict' });
}

export function sessionToken(c: Context): string | undefined {
  return getCookie(c, SESSION_COOKIE) || undefined;
}

/**
 * Who is calling: Basic credentials first (every check counts toward login throttling), else the session
 * cookie, whose expiry slides with use.
 */
export async function identify(c: Context, users: UserService): Promise<Identity> {
  const header = c.req.header('authorization');
  if (header !== undefined && /^Basic(\s|$)/i.test(header)) {
    const credentials = basicCredentials(header);
    if (!credentials) return { kind: 'invalid' };
    return users.authenticate(credentials.user, credentials.password, remoteAddress(c));
  }
  const token = sessionToken(c);
  if (!token) return { kind: 'anonymous' };
  const session = users.sessionUser(token);
  if (!session) return { kind: 'no-session' };
  if (session.refreshed) setSessionCookie(c, token, users.sessionTimeoutSecs);
  return { kind: 'ok', user: session.user };
}

/** The answer to a caller who is not (or may not now be) authenticated. */
export function refuse(c: Context, identity: Exclude<Identity, { kind: 'ok' }>): Response {
  switch (identity.kind) {
    case 'throttled':
      c.header('Retry-After', String(identity.retryAfterSecs));
      return c.text(`Too many failed logins; try again in ${identity.retryAfterSecs} s`, 429);
    case 'invalid':
      return c.text('Invalid username or password', 401);
    case 'no-session':
      return c.text('Session expired or unknown; log in again', 401);
    case 'anonymous':
      return c.text('Authentication required', 401);
  }
}

/** 401 without an authenticated user, 403 when the user's role is below `role`. */
export function requireRole(role: Role): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const user = c.get('user');
    if (!user) return c.text('Authentication required', 401);
    if (!hasRole(user, role)) return c.text(`Forbidden: this route needs the role ${role}`, 403);
    return next();
  };
}

/**
 * Applied once to the whole app: finds the route that will answer, looks up the access it needs in the
 * policy table, authenticates the caller unless the route is public, and checks the role.
 */
export function guard(users: UserService): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const route = matchedRoutes(c)
      .slice(c.req.routeIndex + 1)
      .find((r) => r.method !== 'ALL');
    const access = route ? accessFor(route.method, route.path) : defaultAccess(c.req.method);
    if (access === 'PUBLIC') return next();
    const identity = await identify(c, users);
    if (identity.kind !== 'ok') return refuse(c, identity);
    c.set('user', identity.user);
    return requireRole(access)(c, next);
  };
}

/**
 * Authentication and authorization, as Slicebox does them: HTTP Basic if the request carries it, else the
 * `slicebox-session` cookie from `POST /api/users/login`. The caller's address (for login throttling) is the
 * socket's peer, or what a trusted reverse proxy forwarded. Refusals are plain text; a 401 carries the
 * challenge `WWW-Authenticate: Basic realm="Sluice"`, so a browser opening an API URL asks for a password,
 * except for requests of the web UI (marked `X-Requested-With`, or a browser's fetch: `Sec-Fetch-Mode`
 * other than `navigate`), which keeps its own login form. Which role a route needs is in ./policy.ts.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { matchedRoutes } from 'hono/route';
import { ConfigError } from '../errors.js';
import { hasRole, type Authentication, type UserService } from '../users/service.js';
import type { Role, UserInfo } from '../users/store.js';
import { accessFor, defaultAccess, opensOnLoopback } from './policy.js';

export const SESSION_COOKIE = 'slicebox-session';

export type AuthUser = UserInfo;
export type AuthEnv = { Variables: { user: AuthUser; clientAddress: string } };

/** The socket peer's address from @hono/node-server; 'unknown' without a socket (app.request() tests). */
function socketAddress(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  const address = env?.incoming?.socket?.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/**
 * The addresses whose `X-Forwarded-For` is believed (reverse proxies, `SLUICE_TRUSTED_PROXIES`): single
 * addresses or CIDR blocks, IPv4 or IPv6. Throws on an entry that is neither.
 */
export function trustedProxies(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix, extra] = entry.trim().split('/');
    const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
    const bits = prefix === undefined ? undefined : Number(prefix);
    const maxBits = family === 'ipv4' ? 32 : 128;
    if (
      !family ||
      extra !== undefined ||
      (bits !== undefined && !(Number.isInteger(bits) && bits >= 0 && bits <= maxBits))
    )
      throw new ConfigError(`SLUICE_TRUSTED_PROXIES: "${entry}" is not an IP address or CIDR block`);
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, bits, family);
  }
  return list;
}

const isLoopback = (address: string) => (isIPv4(address) && address.startsWith('127.')) || address === '::1';

const isTrusted = (proxies: BlockList, address: string) =>
  (isIPv4(address) && proxies.check(address, 'ipv4')) || (isIPv6(address) && proxies.check(address, 'ipv6'));

/**
 * Who is calling, as far as it can be told: the socket's peer, unless that peer is a trusted proxy; then
 * the right-most address of `X-Forwarded-For` that is not a trusted proxy (the left-most ones are whatever
 * the client claimed, so they are never believed over a proxy's own entry).
 */
export function clientAddress(c: Context, proxies?: BlockList): string {
  const peer = socketAddress(c);
  if (!proxies || !isTrusted(proxies, peer)) return peer;
  const forwarded = (c.req.header('x-forwarded-for') ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean)
    .map((a) => (a.startsWith('::ffff:') ? a.slice(7) : a));
  for (let i = forwarded.length - 1; i >= 0; i--) if (!isTrusted(proxies, forwarded[i])) return forwarded[i];
  return forwarded[0] ?? peer;
}

/** The caller's address as the guard determined it (trusted proxies applied). */
export function remoteAddress(c: Context): string {
  return (c.get('clientAddress') as string | undefined) ?? socketAddress(c);
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
  const session = await users.sessionUser(token);
  if (!session) return { kind: 'no-session' };
  if (session.refreshed) setSessionCookie(c, token, users.sessionTimeoutSecs);
  return { kind: 'ok', user: session.user };
}

export const REALM = 'Sluice';

/** Requests of a script or page (the web UI), as opposed to a browser opening a URL or a command-line client. */
function fromScript(c: Context): boolean {
  if (c.req.header('x-requested-with')) return true;
  const mode = c.req.header('sec-fetch-mode');
  return mode !== undefined && mode !== 'navigate';
}

/** A 401, with the Basic challenge unless the web UI asked (it shows its own login form). */
export function unauthorized(c: Context, message: string, challenge = true): Response {
  if (challenge && !fromScript(c)) c.header('WWW-Authenticate', `Basic realm="${REALM}", charset="UTF-8"`);
  return c.text(message, 401);
}

/**
 * The answer to a caller who is not (or may not now be) authenticated; `challenge` false for the login
 * route, whose credentials come in its body, not by Basic.
 */
export function refuse(c: Context, identity: Exclude<Identity, { kind: 'ok' }>, challenge = true): Response {
  switch (identity.kind) {
    case 'throttled':
      c.header('Retry-After', String(identity.retryAfterSecs));
      return c.text(`Too many failed logins; try again in ${identity.retryAfterSecs} s`, 429);
    case 'invalid':
      return unauthorized(c, 'Invalid username or password', challenge);
    case 'no-session':
      return unauthorized(c, 'Session expired or unknown; log in again', challenge);
    case 'anonymous':
      return unauthorized(c, 'Authentication required', challenge);
  }
}

/** 401 without an authenticated user, 403 when the user's role is below `role`. */
export function requireRole(role: Role): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const user = c.get('user');
    if (!user) return unauthorized(c, 'Authentication required');
    if (!hasRole(user, role)) return c.text(`Forbidden: this route needs the role ${role}`, 403);
    return next();
  };
}

/**
 * Applied once to the whole app: finds the route that will answer, looks up the access it needs in the
 * policy table, authenticates the caller unless the route is public, and checks the role.
 */
export function guard(
  users: UserService,
  proxies?: BlockList,
  options: { openOnLoopback?: boolean } = {},
): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const address = clientAddress(c, proxies);
    c.set('clientAddress', address);
    const route = matchedRoutes(c)
      .slice(c.req.routeIndex + 1)
      .find((r) => r.method !== 'ALL');
    const access = route ? accessFor(route.method, route.path) : defaultAccess(c.req.method);
    if (access === 'PUBLIC') return next();
    if (options.openOnLoopback && route && opensOnLoopback(route.method, route.path) && isLoopback(address))
      return next();
    const identity = await identify(c, users);
    if (identity.kind !== 'ok') return refuse(c, identity);
    c.set('user', identity.user);
    return requireRole(access)(c, next);
  };
}

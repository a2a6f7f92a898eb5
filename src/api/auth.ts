import { timingSafeEqual, createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';

/** Routes anyone may call (Slicebox's public routes that exist so far). */
export const PUBLIC_ROUTES: ReadonlyArray<{ method: string; path: string }> = [
  { method: 'GET', path: '/api/system/health' },
  { method: 'GET', path: '/api/system/information' },
];

export interface AuthUser {
  id: number;
  user: string;
  role: 'SUPERUSER' | 'ADMINISTRATOR' | 'USER';
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * HTTP Basic authentication against the superuser from the configuration. 401 carries no
 * `WWW-Authenticate` challenge (no browser popup), as in Slicebox. Users, roles and session cookies
 * replace this in the users issue.
 */
export function basicAuth(credentials: {
  user: string;
  password: string;
}): MiddlewareHandler<{ Variables: { user: AuthUser } }> {
  const expected = digest(`${credentials.user}:${credentials.password}`);
  return async (c, next) => {
    if (PUBLIC_ROUTES.some((r) => r.method === c.req.method && r.path === c.req.path)) return next();
    const header = c.req.header('authorization') ?? '';
    const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
    if (!m) return c.text('Authentication required', 401);
    const given = digest(Buffer.from(m[1], 'base64').toString('utf8'));
    if (!timingSafeEqual(given, expected)) return c.text('Invalid username or password', 401);
    c.set('user', { id: 1, user: credentials.user, role: 'SUPERUSER' });
    return next();
  };
}

import { Hono } from 'hono';
import { z } from 'zod';
import type { ApiDeps } from '../api/deps.js';
import {
  clearSessionCookie,
  identify,
  refuse,
  sessionToken,
  setSessionCookie,
  remoteAddress,
  type AuthEnv,
} from '../api/auth.js';
import { idParam, jsonBody, pagingParams, parseOr400 } from '../api/params.js';

/** Slicebox's `ClearTextUser`. Names carry no colon (HTTP Basic could not send them) and no control characters. */
export const clearTextUser = z.strictObject({
  user: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[^:\p{Cc}]+$/u, 'must not contain ":" or control characters'),
  role: z.enum(['SUPERUSER', 'ADMINISTRATOR', 'USER']),
  password: z.string().min(1).max(1024),
});

/** Slicebox's `UserPass`. */
export const userPass = z.strictObject({ user: z.string().max(1024), pass: z.string().max(1024) });

/**
 * Slicebox's `/api/users`: the user list (without password hashes, unlike Slicebox), adding and deleting
 * users, and the session routes. Who may call which is in ../policy.ts.
 */
export function usersRoutes(deps: ApiDeps): Hono<AuthEnv> {
  const { users } = deps;
  return new Hono<AuthEnv>()
    .get('/', async (c) => {
      const { startindex, count } = parseOr400(pagingParams, c.req.query(), 'Query parameters');
      return c.json(await users.list(startindex, count));
    })
    .post('/', async (c) => {
      const input = parseOr400(clearTextUser, await jsonBody(c.req), 'User');
      // An existing name answers the existing user with 201, as Slicebox does; its password is not changed.
      return c.json(await users.create(input), 201);
    })
    .delete('/:id', async (c) => {
      const id = idParam(c.req.param('id'));
      await users.delete(id);
      // The user's uploads are a source: its tag filter associations go with it.
      await deps.tagFilters.forgetSource({ sourceType: 'user', sourceId: id });
      return c.body(null, 204);
    })
    .post('/login', async (c) => {
      const { user, pass } = parseOr400(userPass, await jsonBody(c.req), 'Login');
      const result = await users.authenticate(user, pass, remoteAddress(c));
      if (result.kind !== 'ok') return refuse(c, result, false);
      const previous = sessionToken(c);
      if (previous) await users.closeSession(previous);
      const session = await users.openSession(result.user.id);
      setSessionCookie(c, session.token, session.maxAgeSecs);
      return c.body(null, 204);
    })
    .post('/logout', async (c) => {
      const token = sessionToken(c);
      if (token) await users.closeSession(token);
      clearSessionCookie(c);
      return c.body(null, 204);
    })
    .get('/current', async (c) => {
      const identity = await identify(c, users);
      if (identity.kind === 'ok') return c.json(identity.user);
      if (identity.kind === 'throttled') return refuse(c, identity);
      return c.text('Not logged in', 404);
    });
}

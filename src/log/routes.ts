import { Hono } from 'hono';
import { z } from 'zod';
import type { ApiDeps } from '../api/deps.js';
import type { AuthEnv } from '../api/auth.js';
import { idParam, pagingParams, parseOr400 } from '../api/params.js';

export const logQuery = pagingParams.extend({
  subject: z.string().min(1).max(256).optional().describe('Only entries about this subject'),
  type: z.enum(['DEFAULT', 'INFO', 'WARN', 'ERROR']).optional().describe('Only entries of this type'),
});

/** Slicebox's `/api/log`: entries newest first, with paging and `subject` / `type` filters. */
export function logRoutes(deps: ApiDeps): Hono<AuthEnv> {
  return new Hono<AuthEnv>()
    .get('/', async (c) => {
      const { startindex, count, subject, type } = parseOr400(logQuery, c.req.query(), 'Query parameters');
      return c.json(await deps.log.list({ startIndex: startindex, count, subject, entryType: type }));
    })
    .delete('/', async (c) => {
      await deps.log.clear();
      return c.body(null, 204);
    })
    .delete('/:id', async (c) => {
      await deps.log.delete(idParam(c.req.param('id')));
      return c.body(null, 204);
    });
}

import { Hono } from 'hono';
import type { ApiDeps } from '../deps.js';
import { NotFoundError } from '../../errors.js';
import { pagingParams, parseOr400 } from '../params.js';

/** Ours: what could not be ingested, why, and a way to try again or discard it. */
export function quarantineRoutes(deps: ApiDeps): Hono {
  const q = deps.engine.services.quarantine;
  return (
    new Hono()
      // Newest first, paged as Slicebox pages its lists; X-Total-Count tells how many there are.
      .get('/', async (c) => {
        const { startindex, count } = parseOr400(pagingParams, c.req.query(), 'Query parameters');
        const records = await q.list();
        c.header('X-Total-Count', String(records.length));
        return c.json(records.slice(startindex, startindex + count));
      })
      .get('/:id', async (c) => {
        const record = await q.get(c.req.param('id'));
        if (!record) throw new NotFoundError(`quarantine record ${c.req.param('id')}`);
        return c.json(record);
      })
      .delete('/:id', async (c) => {
        await q.remove(c.req.param('id'));
        return c.body(null, 204);
      })
      .post('/:id/requeue', async (c) => {
        const record = await q.get(c.req.param('id'));
        if (!record) throw new NotFoundError(`quarantine record ${c.req.param('id')}`);
        const outcome = await deps.engine.upload(await q.open(record.id), {
          ...record.source,
          detail: `requeued from quarantine ${record.id}`,
        });
        if (outcome.kind === 'quarantine')
          return c.json({ requeued: false, code: outcome.error.code, message: outcome.error.message }, 400);
        await q.remove(record.id);
        return c.json({ requeued: true, outcome: outcome.kind });
      })
  );
}

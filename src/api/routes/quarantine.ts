import { createReadStream } from 'node:fs';
import { Hono } from 'hono';
import type { ApiDeps } from '../deps.js';
import { NotFoundError } from '../../errors.js';

/** Ours: what could not be ingested, why, and a way to try again or discard it. */
export function quarantineRoutes(deps: ApiDeps): Hono {
  const q = deps.engine.services.quarantine;
  return new Hono()
    .get('/', async (c) => c.json(await q.list()))
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
      const outcome = await deps.engine.upload(createReadStream(q.filePath(record.id)), {
        ...record.source,
        detail: `requeued from quarantine ${record.id}`,
      });
      if (outcome.kind === 'quarantine')
        return c.json({ requeued: false, code: outcome.error.code, message: outcome.error.message }, 400);
      await q.remove(record.id);
      return c.json({ requeued: true, outcome: outcome.kind });
    });
}

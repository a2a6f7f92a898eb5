import { Hono } from 'hono';
import type { ApiDeps } from '../deps.js';
import type { Source } from '../../storage/metadata-index.js';

/** Every source: each user (their uploads), the sources of pipeline files, the managed ones and boxes. */
export function sourcesRoutes(deps: ApiDeps): Hono {
  return new Hono().get('/', async (c) => {
    const users: Source[] = (await deps.users.all()).map((u) => ({
      sourceType: 'user',
      sourceName: u.user,
      sourceId: u.id,
    }));
    return c.json([
      ...users,
      ...deps.engine.sources(),
      ...(await deps.managedSources.sources()),
      ...(await deps.boxes.sources()),
    ]);
  });
}

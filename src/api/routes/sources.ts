import { Hono } from 'hono';
import type { ApiDeps } from '../deps.js';

/** Every source: users (the superuser until users are managed), and the sources of running pipelines. */
export function sourcesRoutes(deps: ApiDeps): Hono {
  return new Hono().get('/', (c) =>
    c.json([{ sourceType: 'user', sourceName: deps.auth.user, sourceId: 1 }, ...deps.engine.sources()]),
  );
}

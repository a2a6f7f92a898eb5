import { Hono } from 'hono';
import type { ApiDeps } from '../deps.js';

/** Ours: each running pipeline with its components' counters. */
export function pipelinesRoutes(deps: ApiDeps): Hono {
  return (
    new Hono()
      .get('/', (c) => c.json(deps.engine.pipelines()))
      // Ours: where the time of each instance goes, by stage, since the start (or the last reset).
      .get('/stages', (c) => c.json(deps.engine.services.timings.snapshot()))
  );
}

import { Hono } from 'hono';
import type { ApiDeps } from '../deps.js';

export function systemRoutes(deps: ApiDeps): Hono {
  return new Hono()
    .get('/health', (c) => c.body(null, 200))
    .get('/information', (c) => c.json({ version: deps.version }));
}

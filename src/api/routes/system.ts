import { Hono } from 'hono';
import type { ApiDeps } from '../deps.js';
import { identify } from '../auth.js';
import { systemInformation } from '../../ops/status.js';

export function systemRoutes(deps: ApiDeps): Hono {
  return new Hono()
    .get('/health', (c) => c.body(null, 200))
    .get('/information', async (c) =>
      c.json(await systemInformation(deps, (await identify(c, deps.users)).kind === 'ok')),
    );
}

/**
 * `/api/scps`, `/api/directorywatches` and `/api/import/sessions`: sources users create and delete at run
 * time (Slicebox §2.7–2.8). The service validates and the default pipeline's `managed_sources` source opens
 * them before the 201.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import type { ApiDeps } from '../api/deps.js';
import type { AuthEnv } from '../api/auth.js';
import { idParam, jsonBody, pagingParams, parseOr400 } from '../api/params.js';
import type { Image } from '../storage/metadata-index.js';
import { uploadFromRequest, uploadResponse } from '../api/routes/images.js';

const paging = (query: Record<string, string>) => parseOr400(pagingParams, query, 'Query parameters');

// Slicebox clients post the whole object (`id: -1` and all); only these fields are read.
export const scpInput = z.strictObject({
  id: z.number().optional(),
  name: z.string({ error: 'name must be a string' }),
  aeTitle: z.string({ error: 'aeTitle must be a string' }),
  port: z.number({ error: 'port must be a number' }),
  queryRetrieve: z
    .boolean({ error: 'queryRetrieve must be true or false' })
    .optional()
    .describe(
      'Sluice only: offer C-FIND, C-MOVE and C-GET on this SCP (default true; managed_sources query_retrieve: false turns it off for all)',
    ),
});
export const watchInput = z.strictObject({
  id: z.number().optional(),
  name: z.string({ error: 'name must be a string' }),
  path: z.string({ error: 'path must be a string' }),
});
// Slicebox's UI posts a whole ImportSession; the server sets everything but the name.
export const sessionInput = z.strictObject({
  id: z.number().optional(),
  name: z.string({ error: 'name must be a string' }),
  userId: z.number().optional(),
  user: z.string().optional(),
  filesImported: z.number().optional(),
  filesAdded: z.number().optional(),
  filesRejected: z.number().optional(),
  created: z.number().optional(),
  lastUpdated: z.number().optional(),
});

export function scpsRoutes(deps: ApiDeps): Hono<AuthEnv> {
  const { managedSources } = deps;
  return new Hono<AuthEnv>()
    .get('/', async (c) => {
      const { startindex, count } = paging(c.req.query());
      return c.json(await managedSources.listScps(startindex, count));
    })
    .post('/', async (c) => {
      const input = parseOr400(scpInput, await jsonBody(c.req), 'SCP');
      return c.json(await managedSources.createScp(input), 201);
    })
    .delete('/:id', async (c) => {
      await managedSources.deleteScp(idParam(c.req.param('id')));
      return c.body(null, 204);
    });
}

export function directoryWatchesRoutes(deps: ApiDeps): Hono<AuthEnv> {
  const { managedSources } = deps;
  return new Hono<AuthEnv>()
    .get('/', async (c) => {
      const { startindex, count } = paging(c.req.query());
      return c.json(await managedSources.listWatchedDirectories(startindex, count));
    })
    .post('/', async (c) => {
      const input = parseOr400(watchInput, await jsonBody(c.req), 'Watched directory');
      return c.json(await managedSources.createWatchedDirectory(input), 201);
    })
    .delete('/:id', async (c) => {
      await managedSources.deleteWatchedDirectory(idParam(c.req.param('id')));
      return c.body(null, 204);
    });
}

export function importRoutes(deps: ApiDeps): Hono<AuthEnv> {
  const { managedSources, index } = deps;
  return new Hono<AuthEnv>()
    .get('/sessions', async (c) => {
      const { startindex, count } = paging(c.req.query());
      return c.json(await managedSources.listImportSessions(startindex, count));
    })
    .post('/sessions', async (c) => {
      const { name } = parseOr400(sessionInput, await jsonBody(c.req), 'Import session');
      return c.json(await managedSources.createImportSession(name, c.get('user')), 201);
    })
    .get('/sessions/:id', async (c) => c.json(await managedSources.importSession(idParam(c.req.param('id')))))
    .delete('/sessions/:id', async (c) => {
      await managedSources.deleteImportSession(idParam(c.req.param('id')), c.get('user'));
      return c.body(null, 204);
    })
    .get('/sessions/:id/images', async (c) => {
      const ids = await managedSources.importSessionImageIds(idParam(c.req.param('id')));
      const images = await Promise.all(ids.map((id) => index.image(id)));
      // Images deleted since their import are left out.
      return c.json(images.filter((image): image is Image => !!image));
    })
    .post('/sessions/:id/images', async (c) => {
      const session = await managedSources.importSession(idParam(c.req.param('id')));
      const { outcome, filename } = await uploadFromRequest(
        (body, origin) => managedSources.importFile(session.id, body, origin.detail),
        c.req.raw,
        { sourceType: 'import', sourceId: session.id, sourceName: session.name },
      );
      const { status, body } = uploadResponse(outcome, filename ?? 'upload');
      if (body === null) return c.body(null, 204);
      if (typeof body === 'string') return c.text(body, status as 400);
      return c.json(body, status as 200);
    });
}

import { Hono } from 'hono';
import { z } from 'zod';
import type { ApiDeps } from '../api/deps.js';
import type { AuthEnv } from '../api/auth.js';
import { idParam, jsonBody, pagingParams, parseOr400 } from '../api/params.js';
import { tagTreeFromJson } from '../dicom/tag-path.js';
import { SOURCE_TYPES, type SourceType } from '../pipeline/origin.js';

/** Slicebox's `TagFilter`; `id` is sent as -1 by Slicebox clients and ignored. */
export const tagFilterInput = z.strictObject({
  id: z.number().optional(),
  name: z.string().min(1).max(256),
  tagFilterType: z.enum(['WHITELIST', 'BLACKLIST']),
});

/** Slicebox's `TagFilterTagPath`; the filter is the one in the URL. */
export const tagPathInput = z.strictObject({
  id: z.number().optional(),
  tagFilterId: z.number().optional(),
  tagPath: z.record(z.string(), z.unknown()),
});

/** Slicebox's `SourceTagFilter`; `sourceName` is taken from the known sources when the source is one. */
export const associationInput = z.strictObject({
  id: z.number().optional(),
  sourceType: z.enum(SOURCE_TYPES),
  sourceName: z.string().max(256).optional(),
  sourceId: z.number().int(),
  tagFilterId: z.number().int(),
  tagFilterName: z.string().optional(),
});

/**
 * Slicebox's `/api/filtering`: tag filters (WHITELIST, BLACKLIST), their tag paths (TagTree JSON) and their
 * associations with sources. The `tag_filter` operator applies them from the next envelope on.
 */
export function filteringRoutes(deps: ApiDeps): Hono<AuthEnv> {
  const { tagFilters } = deps;
  const paging = (query: Record<string, string>) => parseOr400(pagingParams, query, 'Query parameters');
  const knownName = async (sourceType: SourceType, sourceId: number): Promise<string | undefined> => {
    if (sourceType === 'user') return (await deps.users.all()).find((u) => u.id === sourceId)?.user;
    return deps.engine.sources().find((s) => s.sourceType === sourceType && s.sourceId === sourceId)
      ?.sourceName;
  };
  return new Hono<AuthEnv>()
    .get('/filters', async (c) => {
      const { startindex, count } = paging(c.req.query());
      return c.json(await tagFilters.listFilters(startindex, count));
    })
    .post('/filters', async (c) => {
      const { name, tagFilterType } = parseOr400(tagFilterInput, await jsonBody(c.req), 'Tag filter');
      return c.json(await tagFilters.createFilter({ name, tagFilterType }), 201);
    })
    .delete('/filters/:id', async (c) => {
      await tagFilters.deleteFilter(idParam(c.req.param('id')));
      return c.body(null, 204);
    })
    .get('/filters/:id/tagpaths', async (c) => {
      const id = idParam(c.req.param('id'));
      const { startindex, count } = paging(c.req.query());
      return c.json(await tagFilters.listTagPaths(id, startindex, count));
    })
    .post('/filters/:id/tagpaths', async (c) => {
      const id = idParam(c.req.param('id'));
      const { tagPath } = parseOr400(tagPathInput, await jsonBody(c.req), 'Tag filter tag path');
      return c.json(await tagFilters.addTagPath(id, tagTreeFromJson(tagPath)), 201);
    })
    .delete('/filters/:id/tagpaths/:tagPathId', async (c) => {
      await tagFilters.deleteTagPath(
        idParam(c.req.param('id')),
        idParam(c.req.param('tagPathId'), 'tagPathId'),
      );
      return c.body(null, 204);
    })
    .get('/associations', async (c) => {
      const { startindex, count } = paging(c.req.query());
      return c.json(await tagFilters.listAssociations(startindex, count));
    })
    .post('/associations', async (c) => {
      const input = parseOr400(associationInput, await jsonBody(c.req), 'Source tag filter');
      const sourceName = (await knownName(input.sourceType, input.sourceId)) ?? input.sourceName ?? '';
      const association = await tagFilters.createAssociation({
        sourceType: input.sourceType,
        sourceName,
        sourceId: input.sourceId,
        tagFilterId: input.tagFilterId,
      });
      return c.json(association, 201);
    })
    .delete('/associations/:id', async (c) => {
      await tagFilters.deleteAssociation(idParam(c.req.param('id')));
      return c.body(null, 204);
    });
}

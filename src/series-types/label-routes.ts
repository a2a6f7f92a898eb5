import { Hono } from 'hono';
import { z } from 'zod';
import type { ApiDeps } from '../api/deps.js';
import { idParam, jsonBody, pagingParams, parseOr400 } from '../api/params.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import type { SeriesType } from './store.js';

/** Slicebox's `SeriesTag`; the `id` clients send (-1) is ignored. */
export const seriesTagBody = z.object({
  id: z.number().int().optional(),
  name: z.string().trim().min(1).max(180),
});
export const seriesTagListParams = pagingParams.extend({
  orderby: z.enum(['id', 'name']).optional().describe('id or name'),
  orderascending: z
    .string()
    .regex(/^(true|false)$/i, 'expected true or false')
    .transform((v) => v.toLowerCase() === 'true')
    .default(true)
    .describe('Sort order'),
  filter: z.string().optional().describe('Text the name contains (case-insensitive)'),
});

/**
 * Series labels under `/api/metadata` (mounted beside the metadata routes): the series types of a series
 * (assigned by hand here, so they survive re-classification) and series tags.
 */
export function seriesLabelsRoutes(deps: ApiDeps): Hono {
  const { index } = deps;
  const store = deps.seriesTypes.store;
  const seriesId = async (value: string | undefined) => {
    const id = idParam(value);
    if (!(await index.series(id))) throw new NotFoundError(`series ${id}`);
    return id;
  };
  const tagOr404 = async (id: number) => {
    const tag = await index.seriesTag(id);
    if (!tag) throw new NotFoundError(`series tag ${id}`);
    return tag;
  };

  return new Hono()
    .get('/series/:id/seriestypes', async (c) => {
      const types: SeriesType[] = [];
      for (const a of await index.seriesTypeAssignments(await seriesId(c.req.param('id')))) {
        const type = await store.seriesType(a.seriesTypeId);
        if (type) types.push(type);
      }
      return c.json(types);
    })
    .delete('/series/:id/seriestypes', async (c) => {
      await index.unassignAllSeriesTypes(idParam(c.req.param('id')));
      return c.body(null, 204);
    })
    .put('/series/:id/seriestypes/:seriesTypeId', async (c) => {
      const id = await seriesId(c.req.param('id'));
      const typeId = idParam(c.req.param('seriesTypeId'), 'seriesTypeId');
      if (!(await store.seriesType(typeId))) throw new NotFoundError(`series type ${typeId}`);
      await index.assignSeriesType(id, typeId);
      return c.body(null, 204);
    })
    .delete('/series/:id/seriestypes/:seriesTypeId', async (c) => {
      await index.unassignSeriesType(
        idParam(c.req.param('id')),
        idParam(c.req.param('seriesTypeId'), 'seriesTypeId'),
      );
      return c.body(null, 204);
    })
    .get('/series/:id/seriestags', async (c) =>
      c.json(await index.seriesTagsOf(await seriesId(c.req.param('id')))),
    )
    .post('/series/:id/seriestags', async (c) => {
      const id = await seriesId(c.req.param('id'));
      const { name } = parseOr400(seriesTagBody, await jsonBody(c.req), 'Series tag');
      return c.json(await index.addSeriesTagToSeries(id, name), 201);
    })
    .delete('/series/:id/seriestags/:tagId', async (c) => {
      await index.removeSeriesTagFromSeries(
        idParam(c.req.param('id')),
        idParam(c.req.param('tagId'), 'tagId'),
      );
      return c.body(null, 204);
    })
    .get('/seriestags', async (c) => {
      const p = parseOr400(seriesTagListParams, c.req.query(), 'Query parameters');
      return c.json(
        await index.listSeriesTags({
          startIndex: p.startindex,
          count: p.count,
          orderBy: p.orderby,
          orderAscending: p.orderascending,
          filter: p.filter || undefined,
        }),
      );
    })
    .post('/seriestags', async (c) => {
      const { name } = parseOr400(seriesTagBody, await jsonBody(c.req), 'Series tag');
      const tag = await index.insertSeriesTag(name);
      if (!tag) throw new BadRequestError(`A series tag named "${name}" already exists`);
      return c.json(tag, 201);
    })
    .get('/seriestags/:id', async (c) => c.json(await tagOr404(idParam(c.req.param('id')))))
    .put('/seriestags/:id', async (c) => {
      const id = idParam(c.req.param('id'));
      const { name } = parseOr400(seriesTagBody, await jsonBody(c.req), 'Series tag');
      const tag = await index.renameSeriesTag(id, name);
      if (!tag) throw new NotFoundError(`series tag ${id}`);
      return c.json(tag);
    })
    .delete('/seriestags/:id', async (c) => {
      await index.deleteSeriesTag(idParam(c.req.param('id')));
      return c.body(null, 204);
    });
}

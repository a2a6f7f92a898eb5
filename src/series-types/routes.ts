import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { ApiDeps } from '../api/deps.js';
import { idParam, jsonBody, pagingParams, parseOr400 } from '../api/params.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import { ATTRIBUTE_OPERATORS, attributeProblem, keywordOfTag, tagOfKeyword } from './classifier.js';

const MAX_IDS = 1000;

/** Slicebox's `SeriesType`; the `id` clients send (-1) is ignored. */
export const seriesTypeBody = z.strictObject({
  id: z.number().int().optional(),
  name: z.string().trim().min(1).max(180),
});
export const ruleBody = z.strictObject({ id: z.number().int().optional(), seriesTypeId: z.number().int() });
/** Slicebox's `SeriesTypeRuleAttribute`, plus `operator` and `flags`; `tag` may be left out when `name` is a keyword. */
export const attributeBody = z.strictObject({
  id: z.number().int().optional(),
  seriesTypeRuleId: z.number().int().optional(),
  tag: z.number().int().min(0).max(0xffffffff).optional(),
  name: z.string().default(''),
  tagPath: z
    .string()
    .regex(/^\d{1,10}(,\d{1,10})*$/, 'expected comma-separated decimal sequence tags')
    .nullish()
    .transform((v) => v ?? null),
  namePath: z
    .string()
    .nullish()
    .transform((v) => v ?? null),
  values: z.string(),
  operator: z.enum(ATTRIBUTE_OPERATORS).default('equals'),
  flags: z.string().default(''),
});
export const idsBody = z.strictObject({ ids: z.array(z.number().int()).max(MAX_IDS) });

/**
 * Slicebox's `/api/seriestypes`: series types, their rules and rule attributes, the re-classification
 * status, and the types of many series at once. Changes that can alter a classification start a
 * re-classification of every series in the background.
 */
export function seriesTypesRoutes(deps: ApiDeps): Hono {
  const service = deps.seriesTypes;
  const store = service.store;
  const typeOr404 = async (id: number) => {
    const type = await store.seriesType(id);
    if (!type) throw new NotFoundError(`series type ${id}`);
    return type;
  };
  const ruleOr404 = async (id: number) => {
    const rule = await store.seriesTypeRule(id);
    if (!rule) throw new NotFoundError(`series type rule ${id}`);
    return rule;
  };
  const updateStatus = (c: Context) => c.json({ running: service.running });
  const notStatic = (id: number) => {
    if (service.isStatic(id))
      throw new BadRequestError(`Series type ${id} is declared in a pipeline file; change it there`);
  };

  return new Hono()
    .get('/', async (c) => {
      const { startindex, count } = parseOr400(pagingParams, c.req.query(), 'Query parameters');
      return c.json(await store.listSeriesTypes(startindex, count));
    })
    .post('/', async (c) => {
      const { name } = parseOr400(seriesTypeBody, await jsonBody(c.req), 'Series type');
      const type = await store.insertSeriesType(name);
      if (!type) throw new BadRequestError(`A series type named "${name}" already exists`);
      return c.json(type, 201);
    })
    .put('/:id', async (c) => {
      const id = idParam(c.req.param('id'));
      const { name } = parseOr400(seriesTypeBody, await jsonBody(c.req), 'Series type');
      notStatic(id);
      if (!(await store.updateSeriesType(id, name))) throw new NotFoundError(`series type ${id}`);
      return c.body(null, 204);
    })
    .delete('/:id', async (c) => {
      const id = idParam(c.req.param('id'));
      notStatic(id);
      if (await store.deleteSeriesType(id)) {
        await deps.index.forgetSeriesType(id);
        service.changed();
      }
      return c.body(null, 204);
    })
    .get('/rules/updatestatus', updateStatus)
    .post('/rules/updatestatus', updateStatus)
    .get('/rules', async (c) => {
      const { seriestypeid } = parseOr400(
        z.object({
          seriestypeid: z
            .string({ error: 'required' })
            .regex(/^\d{1,15}$/, 'expected a series type id')
            .transform(Number),
        }),
        c.req.query(),
        'Query parameters',
      );
      return c.json(await store.listSeriesTypeRules((await typeOr404(seriestypeid)).id));
    })
    .post('/rules', async (c) => {
      const { seriesTypeId } = parseOr400(ruleBody, await jsonBody(c.req), 'Series type rule');
      await typeOr404(seriesTypeId);
      const rule = await store.insertSeriesTypeRule(seriesTypeId);
      // A rule without attributes matches every series.
      service.changed();
      return c.json(rule, 201);
    })
    .delete('/rules/:ruleId', async (c) => {
      if (await store.deleteSeriesTypeRule(idParam(c.req.param('ruleId'), 'ruleId'))) service.changed();
      return c.body(null, 204);
    })
    .get('/rules/:ruleId/attributes', async (c) => {
      const rule = await ruleOr404(idParam(c.req.param('ruleId'), 'ruleId'));
      return c.json(await store.listSeriesTypeRuleAttributes(rule.id));
    })
    .post('/rules/:ruleId/attributes', async (c) => {
      const rule = await ruleOr404(idParam(c.req.param('ruleId'), 'ruleId'));
      const body = parseOr400(attributeBody, await jsonBody(c.req), 'Series type rule attribute');
      const tag = body.tag ?? tagOfKeyword(body.name);
      if (tag === undefined)
        throw new BadRequestError(
          `Series type rule attribute: give a tag, or a keyword as name ("${body.name}" is none)`,
        );
      if (
        body.seriesTypeRuleId !== undefined &&
        body.seriesTypeRuleId !== -1 &&
        body.seriesTypeRuleId !== rule.id
      )
        throw new BadRequestError(
          `Series type rule attribute: seriesTypeRuleId ${body.seriesTypeRuleId} differs from rule ${rule.id} in the path`,
        );
      const problem = attributeProblem(body);
      if (problem) throw new BadRequestError(`Series type rule attribute: ${problem}`);
      const attribute = await store.insertSeriesTypeRuleAttribute({
        seriesTypeRuleId: rule.id,
        tag,
        name: body.name || keywordOfTag(tag),
        tagPath: body.tagPath,
        namePath: body.namePath,
        values: body.values,
        operator: body.operator,
        flags: body.flags,
      });
      service.changed();
      return c.json(attribute, 201);
    })
    .delete('/rules/:ruleId/attributes/:attributeId', async (c) => {
      const ruleId = idParam(c.req.param('ruleId'), 'ruleId');
      const attributeId = idParam(c.req.param('attributeId'), 'attributeId');
      // Only through its own rule; anything else is already gone as far as this path is concerned.
      const ofRule = (await store.listSeriesTypeRuleAttributes(ruleId)).some((a) => a.id === attributeId);
      if (ofRule && (await store.deleteSeriesTypeRuleAttribute(attributeId))) service.changed();
      return c.body(null, 204);
    })
    .post('/series/query', async (c) => {
      const { ids } = parseOr400(idsBody, await jsonBody(c.req), 'Series ids');
      const names = new Map(
        (await store.listSeriesTypes(0, Number.MAX_SAFE_INTEGER)).map((t) => [t.id, t.name]),
      );
      const seriesIdSeriesTypes = (await deps.index.seriesTypeAssignmentsOf(ids))
        .filter((a) => names.has(a.seriesTypeId))
        .map((a) => ({
          seriesId: a.seriesId,
          seriesType: { id: a.seriesTypeId, name: names.get(a.seriesTypeId)! },
        }));
      return c.json({ seriesIdSeriesTypes });
    });
}

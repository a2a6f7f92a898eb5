import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { DEFAULT_COUNT, MAX_COUNT, idParam, jsonBody, pagingParams, parseOr400 } from '../params.js';
import { NotFoundError } from '../../errors.js';
import { SOURCE_TYPES, type SourceType } from '../../pipeline/origin.js';
import type {
  Level,
  ListOptions,
  MetadataIndex,
  MetadataQuery,
  QueryFilters,
  Source,
} from '../../storage/metadata-index.js';

const MAX_LIST_VALUES = 1000;
const OPERATORS = ['=', 'like', '<', '>', '<=', '>=', 'in'] as const;

// ---------------------------------------------------------------- query string

const requiredId = () =>
  z
    .string({ error: (issue) => (issue.input === undefined ? 'required' : 'expected an id') })
    .regex(/^\d{1,15}$/, 'expected a non-negative integer')
    .transform(Number);
const idList = z
  .string()
  .regex(/^\s*(\d{1,15}\s*(,\s*\d{1,15}\s*)*)?$/, 'expected comma-separated ids, e.g. 2,5')
  .transform((v) =>
    v
      .split(',')
      .filter((s) => s.trim())
      .map(Number),
  )
  .refine((ids) => ids.length <= MAX_LIST_VALUES, `at most ${MAX_LIST_VALUES} ids`);
const SOURCE_REF = `(${SOURCE_TYPES.join('|')}):-?\\d{1,15}`;
const sourceList = z
  .string()
  .regex(
    new RegExp(`^\\s*(${SOURCE_REF}\\s*(,\\s*${SOURCE_REF}\\s*)*)?$`),
    `expected comma-separated sourceType:sourceId pairs such as box:23,user:2, with sourceType one of ${SOURCE_TYPES.join(', ')}`,
  )
  .transform((v) =>
    v
      .split(',')
      .filter((s) => s.trim())
      .map((pair) => {
        const [sourceType, sourceId] = pair.trim().split(':');
        return { sourceType: sourceType as SourceType, sourceId: Number(sourceId) };
      }),
  )
  .refine((refs) => refs.length <= MAX_LIST_VALUES, `at most ${MAX_LIST_VALUES} sources`);

/** `sources`, `seriestypes`, `seriestags`: each list ORed, the three ANDed. */
export const filterParams = z.object({
  sources: sourceList.optional().describe('Series sources, e.g. box:23,user:2'),
  seriestypes: idList.optional().describe('Series type ids, e.g. 2,5'),
  seriestags: idList.optional().describe('Series tag ids, e.g. 1,3'),
});

export const listParams = filterParams.extend({
  ...pagingParams.shape,
  orderby: z.string().optional().describe('A column of the level'),
  orderascending: z
    .string()
    .regex(/^(true|false|yes|no|on|off|1|0)$/i, 'expected true or false')
    .transform((v) => /^(true|yes|on|1)$/i.test(v))
    .default(true)
    .describe('Sort order'),
  filter: z.string().optional().describe('Case-insensitive text contained in one of the string columns'),
});

function queryFilters(params: z.infer<typeof filterParams>): QueryFilters | undefined {
  const filters: QueryFilters = {};
  if (params.sources?.length) filters.sourceRefs = params.sources;
  if (params.seriestypes?.length) filters.seriesTypeIds = params.seriestypes;
  if (params.seriestags?.length) filters.seriesTagIds = params.seriestags;
  return Object.keys(filters).length ? filters : undefined;
}

function listOptions(params: z.infer<typeof listParams>, parentId?: number): ListOptions {
  return {
    startIndex: params.startindex,
    count: params.count,
    orderBy: params.orderby || undefined,
    orderAscending: params.orderascending,
    filter: params.filter || undefined,
    filters: queryFilters(params),
    parentId,
  };
}

// ---------------------------------------------------------------- query body

/** Slicebox's `Query`. Unknown fields are ignored, as Play JSON does; numbers are accepted where strings are expected. */
const queryValue = z.union([z.string(), z.number().transform(String)]);
export const queryBody = z.object({
  startIndex: z.number().int().min(0).default(0),
  count: z.number().int().min(0).max(MAX_COUNT).default(DEFAULT_COUNT),
  order: z
    .object({ orderBy: z.string().min(1), orderAscending: z.boolean().default(true) })
    .nullish()
    .transform((o) => o ?? undefined),
  queryProperties: z
    .array(
      z.object({
        propertyName: z.string().min(1),
        operator: z
          .string()
          .transform((op) => op.toLowerCase())
          .pipe(z.enum(OPERATORS)),
        propertyValue: z.union([queryValue, z.array(queryValue).max(MAX_LIST_VALUES)]),
      }),
    )
    .max(100)
    .default([]),
  filters: z
    .object({
      sourceRefs: z
        .array(z.object({ sourceType: z.enum(SOURCE_TYPES), sourceId: z.number().int() }))
        .max(MAX_LIST_VALUES)
        .default([]),
      seriesTypeIds: z.array(z.number().int()).max(MAX_LIST_VALUES).default([]),
      seriesTagIds: z.array(z.number().int()).max(MAX_LIST_VALUES).default([]),
    })
    .nullish()
    .transform((f) => f ?? undefined),
});

async function metadataQuery(c: Context): Promise<MetadataQuery> {
  return parseOr400(queryBody, await jsonBody(c.req), 'Query body');
}

// ---------------------------------------------------------------- routes

/**
 * Slicebox's `/api/metadata`: the patient → study → series → image hierarchy, listed, queried and
 * fetched by id, plus flat series (one row per series with its patient and study).
 */
export function metadataRoutes(deps: ApiDeps): Hono {
  const { index } = deps;
  // The port's overloads tie each level to its entity type; here the level is data.
  const listAt = index.list as (level: Level, opts: ListOptions) => Promise<unknown[]>;
  const queryAt = index.query as (level: Level, q: MetadataQuery) => Promise<unknown[]>;

  const list = (level: Level, parent?: 'patientid' | 'studyid' | 'seriesid') => async (c: Context) => {
    const raw = c.req.query();
    const params = parseOr400(listParams, raw, 'Query parameters');
    const parentId = parent
      ? parseOr400(z.object({ [parent]: requiredId() }), raw, 'Query parameters')[parent]
      : undefined;
    return c.json(await listAt.call(index, level, listOptions(params, parentId)));
  };
  const query = (level: Level) => async (c: Context) =>
    c.json(await queryAt.call(index, level, await metadataQuery(c)));
  const byId =
    <T>(find: (id: number) => Promise<T | undefined>, what: string) =>
    async (c: Context) => {
      const id = idParam(c.req.param('id'));
      const entity = await find(id);
      if (entity === undefined) throw new NotFoundError(`${what} ${id}`);
      return c.json(entity as object);
    };
  const imagesUnder = (find: MetadataIndex['imagesOfPatient']) => async (c: Context) => {
    const id = idParam(c.req.param('id'));
    const filters = queryFilters(parseOr400(filterParams, c.req.query(), 'Query parameters'));
    return c.json(await find(id, filters));
  };
  const sourceOf = async (seriesId: number): Promise<Source | undefined> => {
    if (index.seriesSourceWithName) return index.seriesSourceWithName(seriesId);
    const ref = await index.seriesSource(seriesId);
    return ref && { sourceType: ref.sourceType, sourceName: '', sourceId: ref.sourceId };
  };

  return new Hono()
    .get('/patients', list('patients'))
    .post('/patients/query', query('patients'))
    .get('/patients/:id', byId(index.patient.bind(index), 'patient'))
    .get('/patients/:id/images', imagesUnder(index.imagesOfPatient.bind(index)))
    .get('/studies', list('studies', 'patientid'))
    .post('/studies/query', query('studies'))
    .get('/studies/:id', byId(index.study.bind(index), 'study'))
    .get('/studies/:id/images', imagesUnder(index.imagesOfStudy.bind(index)))
    .get('/series', list('series', 'studyid'))
    .post('/series/query', query('series'))
    .get('/series/:id', byId(index.series.bind(index), 'series'))
    .get('/series/:id/source', byId(sourceOf, 'source of series'))
    .get('/images', list('images', 'seriesid'))
    .post('/images/query', query('images'))
    .get('/images/:id', byId(index.image.bind(index), 'image'))
    .get('/flatseries', list('flatseries'))
    .post('/flatseries/query', query('flatseries'))
    .get('/flatseries/:id', byId(index.flatSeries.bind(index), 'series'));
}

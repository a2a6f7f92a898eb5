/**
 * The metadata index's SELECTs (Slicebox's paging, ordering, free-text filter, source/type/tag filters and
 * query operators), built for one level of the hierarchy. Identifiers come only from the table specs in
 * sqlite-index-tables.ts; every value a client sends is a bound parameter.
 */
import { BadRequestError } from '../errors.js';
import type { Level, QueryFilters, QueryProperty } from './metadata-index.js';
import {
  allColumns,
  CHAIN,
  column,
  DEPTH,
  FLAT_PREFIX,
  PATIENTS,
  quote,
  SERIES,
  STUDIES,
} from './sqlite-index-tables.js';
import { phrase, searchable, textMatch } from './sqlite-index-text.js';

/** Values in one `in` list or one filter list; far more than a client needs, far fewer than SQLite allows. */
const MAX_LIST_VALUES = 1000;

const OPERATORS = new Set(['=', 'like', '<', '>', '<=', '>=', 'in']);

const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;

/** Every non-id column of the hierarchy, by its (case-sensitive) JSON name: `patientID` is not `patientId`. */
const COLUMN_DEPTH = new Map<string, number>(
  CHAIN.flatMap((spec, depth) =>
    allColumns(spec)
      .filter((c) => c !== 'id')
      .map((c) => [c, depth] as const),
  ),
);

interface ColumnRef {
  depth: number;
  sql: string;
}

/** A column of the hierarchy as a query property; `id` is the level's own id. */
function queryColumn(level: Level, name: string): ColumnRef {
  const depth = name === 'id' ? DEPTH[level] : COLUMN_DEPTH.get(name);
  if (depth === undefined) throw new BadRequestError(`Property ${name} does not exist`);
  return { depth, sql: column(CHAIN[depth], name) };
}

/** A column the level's rows can be ordered by: its own, or for flatseries any patient, study or series one. */
function orderColumn(level: Level, name: string): ColumnRef {
  const ref = name === 'id' || COLUMN_DEPTH.has(name) ? queryColumn(level, name) : undefined;
  const own =
    level === 'flatseries' ? ref && ref.depth <= DEPTH.flatseries : ref && ref.depth === DEPTH[level];
  if (!ref || !own) throw new BadRequestError(`Property ${name} does not exist`);
  return ref;
}

/** Columns the free-text `filter` searches. */
function filterColumns(level: Level): string[] {
  const specs = level === 'flatseries' ? [PATIENTS, STUDIES, SERIES] : [CHAIN[DEPTH[level]]];
  return specs.flatMap((spec) => spec.attributes.map(([c]) => column(spec, c)));
}

const FLAT_SELECT = [PATIENTS, STUDIES, SERIES]
  .flatMap((spec, depth) =>
    allColumns(spec).map((c) => `${column(spec, c)} AS ${quote(FLAT_PREFIX[depth] + c)}`),
  )
  .join(', ');

/** The FROM clause: the level's table, joined up to the shallowest and down to the deepest table needed. */
function fromClause(depth: number, needed: Set<number>): string {
  const shallowest = Math.min(depth, ...needed);
  const deepest = Math.max(depth, ...needed);
  let sql = quote(CHAIN[depth].name);
  for (let d = depth - 1; d >= shallowest; d--)
    sql += ` JOIN ${quote(CHAIN[d].name)} ON ${column(CHAIN[d], 'id')} = ${column(CHAIN[d + 1], CHAIN[d + 1].parentKey!)}`;
  for (let d = depth + 1; d <= deepest; d++)
    sql += ` LEFT JOIN ${quote(CHAIN[d].name)} ON ${column(CHAIN[d], CHAIN[d].parentKey!)} = ${column(CHAIN[d - 1], 'id')}`;
  return sql;
}

/** A SELECT under construction: conditions and their parameters, in the same order. */
export class Selection {
  readonly where: string[] = [];
  readonly params: unknown[] = [];
  /** Tables the conditions and the order read, beyond the level's own. */
  readonly needed = new Set<number>();
  /** The trigram phrase a flat series' patient, study or series text must match (see `sql`). */
  private flatText: string | undefined;
  constructor(readonly level: Level) {
    if (!Object.hasOwn(DEPTH, level)) throw new BadRequestError(`Unknown level ${String(level)}`);
  }

  add(condition: string, ...params: unknown[]): this {
    this.where.push(condition);
    this.params.push(...params);
    return this;
  }

  /**
   * Case-insensitive contains over the level's string columns. Texts long enough for the trigram tables
   * (sqlite-index-text.ts) are first looked up there; the LIKEs keep the result exact.
   */
  filter(text: string | undefined): this {
    if (!text) return this;
    if (searchable(text)) this.textCandidates(text);
    if (this.level === 'flatseries') this.needed.add(0).add(1);
    const columns = filterColumns(this.level);
    const pattern = likePattern(text);
    return this.add(
      `(${columns.map((c) => `${c} LIKE ? ESCAPE '\\'`).join(' OR ')})`,
      ...columns.map(() => pattern),
    );
  }

  /** Narrows the rows to those whose own (or, for flatseries, whose patient's or study's) text matches. */
  private textCandidates(text: string): void {
    const match = phrase(text);
    if (this.level === 'images') return;
    if (this.level !== 'flatseries') {
      const spec = CHAIN[DEPTH[this.level]];
      this.add(`${column(spec, 'id')} IN (${textMatch(spec)})`, match);
      return;
    }
    // A series matches through its own text, its study's or its patient's: `sql` makes one branch per level.
    this.flatText = match;
  }

  /** Source, series type and series tag filters: a row matches when one of its series matches all three. */
  filters(filters: QueryFilters | undefined): this {
    const params: unknown[] = [];
    const condition = seriesCondition(filters, params);
    if (!condition) return this;
    if (this.level === 'patients')
      return this.add(
        `"Patients"."id" IN (SELECT "fst"."patientId" FROM "Studies" AS "fst" JOIN "Series" AS "fse" ON "fse"."studyId" = "fst"."id" WHERE ${condition('"fse"."id"')})`,
        ...params,
      );
    if (this.level === 'studies')
      return this.add(
        `"Studies"."id" IN (SELECT "fse"."studyId" FROM "Series" AS "fse" WHERE ${condition('"fse"."id"')})`,
        ...params,
      );
    const seriesId = this.level === 'images' ? '"Images"."seriesId"' : '"Series"."id"';
    return this.add(condition(seriesId), ...params);
  }

  property(p: QueryProperty): this {
    const ref = queryColumn(this.level, p.propertyName);
    this.needed.add(ref.depth);
    const op = String(p.operator).toLowerCase();
    if (!OPERATORS.has(op))
      throw new BadRequestError(
        `Unknown operator "${String(p.operator)}" for property ${p.propertyName}; use one of =, like, <, >, <=, >=, in`,
      );
    if (op === 'in') {
      const values = listValues(p);
      return this.add(`${ref.sql} IN (${values.map(() => '?').join(', ')})`, ...values);
    }
    if (typeof p.propertyValue !== 'string')
      throw new BadRequestError(`Operator "${op}" on property ${p.propertyName} needs a single string value`);
    if (op === 'like') return this.add(`${ref.sql} LIKE ? ESCAPE '\\'`, likePattern(p.propertyValue));
    return this.add(`${ref.sql} ${op} ?`, p.propertyValue);
  }

  /**
   * The finished SQL; `count` < 0 means no limit. The page's ids are chosen first, from the narrowest rows
   * that can decide them, and only those rows are read whole (and, for flatseries, joined): a deep
   * `startIndex` then skips ids, not joined rows.
   */
  sql(order: { orderBy?: string; orderAscending?: boolean }, startIndex: number, count: number): string {
    const depth = DEPTH[this.level];
    const table = CHAIN[depth];
    const id = column(table, 'id');
    const direction = order.orderAscending === false ? 'DESC' : 'ASC';
    const ordered = order.orderBy ? orderColumn(this.level, order.orderBy) : undefined;
    if (ordered) this.needed.add(ordered.depth);
    const orderBy = `${ordered ? `${ordered.sql} ${direction}, ` : ''}${id} ${ordered ? 'ASC' : direction}`;
    // A join to a deeper level repeats the level's rows.
    const distinct = Math.max(...this.needed) > depth ? 'DISTINCT ' : '';
    const select = this.level === 'flatseries' ? FLAT_SELECT : `${quote(table.name)}.*`;
    const where = this.where.length ? ` WHERE ${this.where.join(' AND ')}` : '';
    if (this.flatText !== undefined) {
      // One branch per level whose text matched, each joined from the matching rows down (from 1,000
      // matching patients to their 20,000 series, instead of gathering the 20,000 series ids first and
      // looking each up), then merged, ordered and paged. Each branch leaves out the rows an earlier one
      // found (a series whose patient and study both match comes once), so no sort is spent on duplicates.
      const from = fromClause(depth, new Set([...this.needed, 0, 1]));
      const levels = [PATIENTS, STUDIES, SERIES];
      const others = this.params.splice(0);
      const branches = levels.map((spec, i) => {
        const earlier = levels.slice(0, i);
        this.params.push(this.flatText, ...earlier.map(() => this.flatText), ...others);
        const conditions = [
          `${column(spec, 'id')} IN (${textMatch(spec)})`,
          ...earlier.map((e) => `${column(e, 'id')} NOT IN (${textMatch(e)})`),
          ...this.where,
        ];
        return (
          `SELECT ${id} AS "id"${ordered ? `, ${ordered.sql} AS "o"` : ''} FROM ${from}` +
          ` WHERE ${conditions.join(' AND ')}`
        );
      });
      this.params.push(count, startIndex);
      const order = ordered ? `"o" ${direction}, "id" ASC` : `"id" ${direction}`;
      const page = `SELECT "id" FROM (${branches.join(' UNION ALL ')}) ORDER BY ${order} LIMIT ? OFFSET ?`;
      const joined = new Set([0, 1]);
      return `SELECT ${select} FROM ${fromClause(depth, joined)} WHERE ${id} IN (${page}) ORDER BY ${orderBy}`;
    }
    this.params.push(count, startIndex);
    const page =
      `SELECT ${distinct}${id} FROM ${fromClause(depth, this.needed)}${where}` +
      ` ORDER BY ${orderBy} LIMIT ? OFFSET ?`;
    const joined = new Set(this.level === 'flatseries' ? [0, 1] : []);
    return `SELECT ${select} FROM ${fromClause(depth, joined)} WHERE ${id} IN (${page}) ORDER BY ${orderBy}`;
  }
}

function listValues(p: QueryProperty): string[] {
  const raw = p.propertyValue;
  const values = Array.isArray(raw)
    ? raw
    : typeof raw === 'string'
      ? raw
          .split(',')
          .map((v) => v.trim())
          .filter((v) => v.length > 0)
      : undefined;
  if (!values || values.some((v) => typeof v !== 'string'))
    throw new BadRequestError(`Operator "in" on property ${p.propertyName} needs a list of strings`);
  if (values.length === 0)
    throw new BadRequestError(`Operator "in" on property ${p.propertyName} needs at least one value`);
  if (values.length > MAX_LIST_VALUES)
    throw new BadRequestError(
      `Operator "in" on property ${p.propertyName} takes at most ${MAX_LIST_VALUES} values`,
    );
  return values;
}

/**
 * The condition a series id must meet under `filters` (OR within a list, AND across lists), as a function
 * of the SQL expression for the series id; undefined when nothing is filtered.
 */
function seriesCondition(
  filters: QueryFilters | undefined,
  params: unknown[],
): ((seriesId: string) => string) | undefined {
  const sources = filters?.sourceRefs ?? [];
  const types = filters?.seriesTypeIds ?? [];
  const tags = filters?.seriesTagIds ?? [];
  for (const [name, list] of [
    ['sourceRefs', sources],
    ['seriesTypeIds', types],
    ['seriesTagIds', tags],
  ] as const)
    if (list.length > MAX_LIST_VALUES)
      throw new BadRequestError(`filters.${name} takes at most ${MAX_LIST_VALUES} values`);
  const parts: Array<(seriesId: string) => string> = [];
  if (sources.length) {
    parts.push(
      (id) =>
        `${id} IN (SELECT "id" FROM "SeriesSources" WHERE ${sources.map(() => '("sourceType" = ? AND "sourceId" = ?)').join(' OR ')})`,
    );
    params.push(...sources.flatMap((s) => [s.sourceType, s.sourceId]));
  }
  if (types.length) {
    parts.push(
      (id) =>
        `${id} IN (SELECT "seriesId" FROM "SeriesSeriesTypes" WHERE "seriesTypeId" IN (${types.map(() => '?').join(', ')}))`,
    );
    params.push(...types);
  }
  if (tags.length) {
    parts.push(
      (id) =>
        `${id} IN (SELECT "seriesId" FROM "SeriesSeriesTags" WHERE "seriesTagId" IN (${tags.map(() => '?').join(', ')}))`,
    );
    params.push(...tags);
  }
  return parts.length ? (id) => parts.map((part) => part(id)).join(' AND ') : undefined;
}

export function checkPaging(startIndex: number, count: number): void {
  if (!Number.isSafeInteger(startIndex) || startIndex < 0)
    throw new BadRequestError(`startIndex must be a non-negative integer, got ${startIndex}`);
  if (!Number.isSafeInteger(count) || count < 0)
    throw new BadRequestError(`count must be a non-negative integer, got ${count}`);
}

/**
 * The ClickHouse index's SELECTs, with the SQLite index's semantics (sqlite-index-queries.ts): Slicebox's
 * paging, ordering, free-text filter, source/type/tag filters and query operators. ClickHouse 18.16 joins one
 * table per SELECT, so conditions on other levels become nested `IN (SELECT …)` chains, which keep the join's
 * meaning (conditions on deeper levels hold for one chain of rows); flatseries reads series joined with their
 * study and patient (`ANY LEFT JOIN … USING`, prefixed columns). Identifiers come only from the table specs;
 * values only through literal.ts.
 *
 * Case: SQLite's LIKE folds ASCII letters only, as `positionCaseInsensitive` does, so the free-text filter and
 * the `like` operator (always a literal "contains") use it; ClickHouse's own LIKE is case-sensitive.
 */
import { BadRequestError } from '../../errors.js';
import type { Level, QueryFilters, QueryProperty } from '../metadata-index.js';
import { allColumns, CHAIN, DEPTH, FLAT_PREFIX, PATIENTS, SERIES, STUDIES } from '../sqlite-index-tables.js';
import { int, intList, str, strList } from './literal.js';
import { lookupOf, NUMERIC_COLUMNS, type ClickHouseTable } from './schema.js';

const MAX_LIST_VALUES = 1000;
const OPERATORS = new Set(['=', 'like', '<', '>', '<=', '>=', 'in']);

const COLUMN_DEPTH = new Map<string, number>(
  CHAIN.flatMap((spec, depth) =>
    allColumns(spec)
      .filter((c) => c !== 'id')
      .map((c) => [c, depth] as const),
  ),
);

export const q = (identifier: string) => `"${identifier}"`;

/** Table references and `live` rows of one database. */
export class Tables {
  constructor(readonly database: string) {}
  /** The physical table. */
  raw(table: ClickHouseTable): string {
    return `${q(this.database)}.${q(table)}`;
  }
  /**
   * The current rows of a table: the newest version of each key, tombstones left out; `condition` (on the
   * table's own columns) is applied inside, so that a condition on the sorting key reads only its granules.
   */
  live(table: ClickHouseTable, condition?: string): string {
    return `(SELECT * FROM ${this.raw(table)} FINAL WHERE "deleted" = 0${condition ? ` AND (${condition})` : ''})`;
  }
  /**
   * The current rows of `table` whose `key` is IN `values` (a literal list or a subquery): when a lookup is
   * sorted by `key` (schema.ts LOOKUPS), their ids are read from it first (a few granules), then the rows by
   * id (the primary key); the key is checked on the rows too, so that only current lookup rows count.
   */
  keyed(table: ClickHouseTable, key: string, values: string, condition?: string): string {
    return this.live(
      table,
      [keyedCondition(this, table, key, values), ...(condition ? [condition] : [])].join(' AND '),
    );
  }
}

/** The condition of Tables.keyed on the rows of `table` (read through its lookup on `key` when it has one). */
export function keyedCondition(t: Tables, table: ClickHouseTable, key: string, values: string): string {
  const lookup = lookupOf(table, key);
  const match = `${q(key)} IN ${values}`;
  return lookup ? `"id" IN (SELECT "id" FROM ${t.live(lookup.table, match)}) AND ${match}` : match;
}

/** Column prefixes of the levels' rows joined with their ancestors (FLAT_PREFIX, then images). */
export const PREFIX = [...FLAT_PREFIX, 'im_'] as const;

/**
 * The rows of the level at `depth` joined with their ancestors' (ANY LEFT JOIN … USING the parent key), every
 * column prefixed by its level's PREFIX: flatseries is depth 2; Query/Retrieve reads any depth.
 */
export function chainSource(t: Tables, depth: number): string {
  const spec = CHAIN[depth];
  const columns = allColumns(spec).map((c) => `${q(c)} AS ${q(PREFIX[depth] + c)}`);
  if (!spec.parentKey) return `(SELECT ${columns.join(', ')} FROM ${t.live(spec.name)})`;
  const own = `(SELECT ${columns.join(', ')}, ${q(spec.parentKey)} FROM ${t.live(spec.name)})`;
  const parent = `(SELECT *, ${q(`${PREFIX[depth - 1]}id`)} AS ${q(spec.parentKey)} FROM ${chainSource(t, depth - 1)})`;
  return `(SELECT * FROM ${own} AS ${q(`l${depth}`)} ANY LEFT JOIN ${parent} AS ${q(`r${depth}`)} USING ${q(spec.parentKey)})`;
}

/** A comparison of a column with a client's value; numeric columns compare as numbers, as SQLite's do. */
function comparison(column: string, name: string, op: string, value: string): string {
  if (!NUMERIC_COLUMNS.has(name)) return `${column} ${op} ${str(value)}`;
  const trimmed = value.trim();
  if (/^[+-]?\d{1,15}$/.test(trimmed)) return `${column} ${op} ${int(Number(trimmed))}`;
  // SQLite orders every number before every text: a text compares as greater than any id.
  return op === '<' || op === '<=' ? '1' : '0';
}

function contains(column: string, name: string, text: string): string {
  const value = NUMERIC_COLUMNS.has(name) ? `toString(${column})` : column;
  return `positionCaseInsensitive(${value}, ${str(text)}) > 0`;
}

/** A SELECT for one level under construction. */
export class Selection {
  /** Conditions on the level's own rows (or, for flatseries, on the flat rows). */
  private readonly where: string[] = [];
  /** Conditions on other levels, by depth. */
  private readonly at = new Map<number, string[]>();
  private readonly depth: number;
  private readonly flat: boolean;

  constructor(
    private readonly t: Tables,
    readonly level: Level,
  ) {
    if (!Object.hasOwn(DEPTH, level)) throw new BadRequestError(`Unknown level ${String(level)}`);
    this.depth = DEPTH[level];
    this.flat = level === 'flatseries';
  }

  /** The SQL name of column `name` at `depth`, when it is read from the level's own rows. */
  private own(depth: number, name: string): string | undefined {
    if (this.flat) return depth <= 2 ? q(FLAT_PREFIX[depth] + name) : undefined;
    return depth === this.depth ? q(name) : undefined;
  }

  private condition(depth: number, name: string, sql: (column: string) => string): this {
    const own = this.own(depth, name);
    if (own) this.where.push(sql(own));
    else this.at.set(depth, [...(this.at.get(depth) ?? []), sql(q(name))]);
    return this;
  }

  /** The level's own id column. */
  private get idColumn(): string {
    return this.flat ? q('se_id') : q('id');
  }

  /** Rows of `parentId` (studies of a patient, series of a study, images of a series). */
  parent(parentId: number): this {
    const spec = CHAIN[this.depth];
    if (this.flat || !spec.parentKey) return this;
    this.where.push(keyedCondition(this.t, spec.name, spec.parentKey, `(${int(parentId)})`));
    return this;
  }

  /** Images under a patient (depth 0) or a study (depth 1). */
  under(depth: number, id: number): this {
    return this.condition(depth, 'id', (c) => `${c} = ${int(id)}`);
  }

  /**
   * `name IN values` (a literal list) at `depth`: on the level table's own column, through its lookup sorted by
   * `name` when there is one (Tables.keyed).
   */
  private among(depth: number, name: string, values: string): this {
    return this.condition(depth, name, (c) =>
      c === q(name) ? keyedCondition(this.t, CHAIN[depth].name, name, values) : `${c} IN ${values}`,
    );
  }

  filter(text: string | undefined): this {
    if (!text) return this;
    const specs = this.flat ? [PATIENTS, STUDIES, SERIES] : [CHAIN[this.depth]];
    const columns = specs.flatMap((spec) =>
      spec.attributes.map(([c]) => contains(this.own(CHAIN.indexOf(spec), c)!, c, text)),
    );
    this.where.push(`(${columns.join(' OR ')})`);
    return this;
  }

  filters(filters: QueryFilters | undefined): this {
    const condition = seriesCondition(this.t, filters);
    if (!condition) return this;
    const series = `SELECT "id" FROM ${this.t.live('Series')} WHERE ${condition('"id"')}`;
    if (this.level === 'patients')
      this.where.push(
        `"id" IN (SELECT "patientId" FROM ${this.t.live('Studies')} WHERE "id" IN (SELECT "studyId" FROM ${this.t.live('Series')} WHERE ${condition('"id"')}))`,
      );
    else if (this.level === 'studies')
      this.where.push(`"id" IN (SELECT "studyId" FROM ${this.t.live('Series')} WHERE ${condition('"id"')})`);
    else if (this.level === 'images')
      this.where.push(keyedCondition(this.t, 'Images', 'seriesId', `(${series})`));
    else this.where.push(condition(this.idColumn));
    return this;
  }

  property(p: QueryProperty): this {
    const name = p.propertyName;
    const depth = name === 'id' ? this.depth : COLUMN_DEPTH.get(name);
    if (depth === undefined) throw new BadRequestError(`Property ${name} does not exist`);
    const op = String(p.operator).toLowerCase();
    if (!OPERATORS.has(op))
      throw new BadRequestError(
        `Unknown operator "${String(p.operator)}" for property ${name}; use one of =, like, <, >, <=, >=, in`,
      );
    if (op === 'in') {
      const values = listValues(p);
      if (!NUMERIC_COLUMNS.has(name)) return this.among(depth, name, strList(values));
      const numbers = values.map((v) => v.trim()).filter((v) => /^[+-]?\d{1,15}$/.test(v));
      return numbers.length
        ? this.among(depth, name, intList(numbers.map(Number)))
        : this.condition(depth, name, () => '0');
    }
    if (typeof p.propertyValue !== 'string')
      throw new BadRequestError(`Operator "${op}" on property ${name} needs a single string value`);
    const value = p.propertyValue;
    if (op === '=' && !NUMERIC_COLUMNS.has(name)) return this.among(depth, name, strList([value]));
    if (op === '=' && /^[+-]?\d{1,15}$/.test(value.trim()))
      return this.among(depth, name, intList([Number(value.trim())]));
    if (op === 'like') return this.condition(depth, name, (c) => contains(c, name, value));
    return this.condition(depth, name, (c) => comparison(c, name, op, value));
  }

  /** The level's rows' own conditions plus the chains reaching the other levels' conditions. */
  private conditions(): string[] {
    const all = [...this.where];
    const own = this.flat ? [0, 1, 2] : [this.depth];
    const shallow = Math.min(...own);
    const deep = Math.max(...own);
    // Ancestors: the parent key must be among the parents meeting theirs (and their ancestors').
    let up: string | undefined;
    for (let d = 0; d < shallow; d++) {
      const conditions = [...(this.at.get(d) ?? []), ...(up ? [up] : [])];
      const child = CHAIN[d + 1];
      up = conditions.length
        ? keyedCondition(
            this.t,
            child.name,
            child.parentKey!,
            `(SELECT "id" FROM ${this.t.live(CHAIN[d].name, conditions.join(' AND '))})`,
          )
        : undefined;
    }
    if (up) all.push(up);
    // Descendants: one chain of rows down meeting every deeper condition.
    let down: string | undefined;
    for (let d = 3; d > deep; d--) {
      const conditions = [...(this.at.get(d) ?? []), ...(down ? [down] : [])];
      const spec = CHAIN[d];
      down = conditions.length
        ? `"id" IN (SELECT ${q(spec.parentKey!)} FROM ${this.t.live(spec.name, conditions.join(' AND '))})`
        : undefined;
    }
    if (down) all.push(this.flat ? down.replace(/^"id"/, '"se_id"') : down);
    return all;
  }

  /** The finished SELECT of whole rows; `count` < 0 means no limit. */
  sql(order: { orderBy?: string; orderAscending?: boolean }, startIndex: number, count: number): string {
    const direction = order.orderAscending === false ? 'DESC' : 'ASC';
    let orderBy = `${this.idColumn} ${direction}`;
    if (order.orderBy) {
      const name = order.orderBy;
      const depth = name === 'id' ? this.depth : COLUMN_DEPTH.get(name);
      const column = depth === undefined ? undefined : name === 'id' ? this.idColumn : this.own(depth, name);
      if (!column) throw new BadRequestError(`Property ${name} does not exist`);
      orderBy = `${column} ${direction}, ${this.idColumn} ASC`;
    }
    const where = this.conditions();
    const limit = count < 0 ? '' : ` LIMIT ${int(startIndex)}, ${int(count)}`;
    // A level's own conditions go inside its FINAL read (an id or parent key then reads few granules).
    if (!this.flat)
      return `SELECT * FROM ${this.t.live(CHAIN[this.depth].name, where.join(' AND ') || undefined)} ORDER BY ${orderBy}${limit}`;
    const conditions = where.length ? ` WHERE ${where.join(' AND ')}` : '';
    return `SELECT * FROM ${chainSource(this.t, 2)}${conditions} ORDER BY ${orderBy}${limit}`;
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

/** The condition a series id must meet under `filters`: OR within a list, AND across lists. */
function seriesCondition(
  t: Tables,
  filters: QueryFilters | undefined,
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
    const match = sources
      .map((s) => `("sourceType" = ${str(String(s.sourceType))} AND "sourceId" = ${int(s.sourceId)})`)
      .join(' OR ');
    parts.push((id) => `${id} IN (SELECT "id" FROM ${t.live('SeriesSources')} WHERE ${match})`);
  }
  if (types.length)
    parts.push(
      (id) =>
        `${id} IN (SELECT "seriesId" FROM ${t.live('SeriesSeriesTypes')} WHERE "seriesTypeId" IN ${intList(types)})`,
    );
  if (tags.length)
    parts.push(
      (id) =>
        `${id} IN (SELECT "seriesId" FROM ${t.live('SeriesSeriesTags')} WHERE "seriesTagId" IN ${intList(tags)})`,
    );
  return parts.length ? (id) => parts.map((part) => part(id)).join(' AND ') : undefined;
}

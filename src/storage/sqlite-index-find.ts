/**
 * C-FIND and QIDO-RS over the SQLite index (the query model: find-query.ts). Identifiers come only from the
 * table specs and the fixed expressions below; every value a client sends is a bound parameter, and
 * wildcards are translated to LIKE (escaped, case-insensitive person names) or GLOB (escaped, case-sensitive).
 * Counts, ModalitiesInStudy and SOPClassesInStudy are computed from the lower levels when asked for.
 */
import type Database from 'better-sqlite3';
import {
  depthOf,
  findAttribute,
  QueryError,
  type FindAttribute,
  type FindMatch,
  type FindQuery,
  type Matcher,
} from './find-query.js';
import { CHAIN, column, quote, storedAttributes, type Row } from './sqlite-index-tables.js';

/** Keyword → the column that stores it. */
const STORED = new Map<string, string>([
  ...CHAIN.flatMap((spec) =>
    storedAttributes(spec).map(([c, keyword]) => [keyword, column(spec, c)] as const),
  ),
  ['SOPClassUID', '"Images"."sopClassUID"'],
  ['AvailableTransferSyntaxUID', '"Images"."transferSyntaxUID"'],
]);

const IMAGES_OF_STUDY = '"Images" AS "c" JOIN "Series" AS "cse" ON "c"."seriesId" = "cse"."id"';

/** Keyword → a value computed from the levels below (correlated with the level's own row). */
const COMPUTED = new Map<string, string>([
  [
    'NumberOfPatientRelatedStudies',
    '(SELECT COUNT(*) FROM "Studies" AS "c" WHERE "c"."patientId" = "Patients"."id")',
  ],
  [
    'NumberOfPatientRelatedSeries',
    '(SELECT COUNT(*) FROM "Series" AS "c" JOIN "Studies" AS "cst" ON "c"."studyId" = "cst"."id" WHERE "cst"."patientId" = "Patients"."id")',
  ],
  [
    'NumberOfPatientRelatedInstances',
    `(SELECT COUNT(*) FROM ${IMAGES_OF_STUDY} JOIN "Studies" AS "cst" ON "cse"."studyId" = "cst"."id" WHERE "cst"."patientId" = "Patients"."id")`,
  ],
  [
    'NumberOfStudyRelatedSeries',
    '(SELECT COUNT(*) FROM "Series" AS "c" WHERE "c"."studyId" = "Studies"."id")',
  ],
  [
    'NumberOfStudyRelatedInstances',
    `(SELECT COUNT(*) FROM ${IMAGES_OF_STUDY} WHERE "cse"."studyId" = "Studies"."id")`,
  ],
  [
    'ModalitiesInStudy',
    `(SELECT group_concat(DISTINCT "c"."modality") FROM "Series" AS "c" WHERE "c"."studyId" = "Studies"."id" AND "c"."modality" <> '')`,
  ],
  [
    'SOPClassesInStudy',
    `(SELECT group_concat(DISTINCT "c"."sopClassUID") FROM ${IMAGES_OF_STUDY} WHERE "cse"."studyId" = "Studies"."id" AND "c"."sopClassUID" <> '')`,
  ],
  [
    'NumberOfSeriesRelatedInstances',
    '(SELECT COUNT(*) FROM "Images" AS "c" WHERE "c"."seriesId" = "Series"."id")',
  ],
]);

/** Multi-valued study attributes matched as "some series (or image) of the study has it". */
const MATCHED_BELOW = new Map<string, { from: string; column: string }>([
  [
    'ModalitiesInStudy',
    { from: '"Series" AS "c" WHERE "c"."studyId" = "Studies"."id"', column: '"c"."modality"' },
  ],
  [
    'SOPClassesInStudy',
    { from: `${IMAGES_OF_STUDY} WHERE "cse"."studyId" = "Studies"."id"`, column: '"c"."sopClassUID"' },
  ],
]);

/** `\`, `%` and `_` escaped for LIKE … ESCAPE '\', then DICOM's `*` and `?` as LIKE's `%` and `_`. */
export const likeOf = (pattern: string) =>
  pattern
    .replace(/[\\%_]/g, (ch) => `\\${ch}`)
    .replace(/\*/g, '%')
    .replace(/\?/g, '_');

/** GLOB shares DICOM's `*` and `?`; only its character classes must be made literal. */
export const globOf = (pattern: string) => pattern.replace(/\[/g, '[[]');

/** A time as HHMMSS…: the parts a short value leaves out are its lowest (`to`: its highest) instants. */
function paddedTime(time: string, high: boolean): string {
  const [whole, fraction = ''] = time.split('.');
  const rest = high ? '235959'.slice(whole.length) : '000000'.slice(whole.length);
  if (!high) return whole + rest + (fraction ? `.${fraction}` : '');
  return `${whole}${rest}.${fraction.padEnd(6, '9')}`;
}
/** A stored time padded to HHMMSS for comparison (SQL). */
const timeExpression = (expr: string) =>
  `(CASE WHEN length(${expr}) < 6 THEN ${expr} || substr('000000', length(${expr}) + 1) ELSE ${expr} END)`;

interface Condition {
  sql: string;
  params: unknown[];
}

function condition(expr: string, a: FindAttribute, m: Matcher, caseInsensitiveNames: boolean): Condition {
  const noCase = a.vr === 'PN' && caseInsensitiveNames;
  switch (m.kind) {
    case 'single':
      return { sql: `${expr} = ?${noCase ? ' COLLATE NOCASE' : ''}`, params: [m.value] };
    case 'list':
      return { sql: `${expr} IN (${m.values.map(() => '?').join(', ')})`, params: m.values };
    case 'wildcard':
      return noCase
        ? { sql: `${expr} LIKE ? ESCAPE '\\'`, params: [likeOf(m.pattern)] }
        : { sql: `${expr} GLOB ?`, params: [globOf(m.pattern)] };
    case 'fuzzy': {
      const words = `(' ' || replace(replace(${expr}, '^', ' '), '=', ' '))`;
      return { sql: `${words} LIKE ? ESCAPE '\\'`, params: [`% ${likeOf(m.value.replace(/\^/g, ' '))}%`] };
    }
    case 'range': {
      const time = a.vr === 'TM';
      const value = time ? timeExpression(expr) : expr;
      const parts = [`${expr} <> ''`];
      const params: unknown[] = [];
      if (m.from) {
        parts.push(`${value} >= ?`);
        params.push(time ? paddedTime(m.from, false) : m.from);
      }
      if (m.to) {
        parts.push(`${value} <= ?`);
        params.push(time ? paddedTime(m.to, true) : m.to);
      }
      return { sql: parts.join(' AND '), params };
    }
  }
}

/** The FROM clause: the level's table and every table above it. */
function fromClause(depth: number): string {
  let sql = quote(CHAIN[depth].name);
  for (let d = depth - 1; d >= 0; d--)
    sql += ` JOIN ${quote(CHAIN[d].name)} ON ${column(CHAIN[d], 'id')} = ${column(CHAIN[d + 1], CHAIN[d + 1].parentKey!)}`;
  return sql;
}

/** The SQL of a query and its parameters, in order. */
export function findSql(q: FindQuery): { sql: string; params: unknown[]; returns: string[] } {
  const depth = depthOf(q.level);
  if (depth < 0) throw new QueryError(`Unknown query level ${String(q.level)}`);
  const table = CHAIN[depth];
  const where: string[] = [];
  const params: unknown[] = [];
  for (const key of q.keys) {
    const a = findAttribute(key.keyword);
    if (!a) throw new QueryError(`${key.keyword} cannot be matched here`);
    if (depthOf(a.level) > depth)
      throw new QueryError(`${a.keyword} is a ${a.level} attribute, below the query level ${q.level}`);
    if (!a.matchable) throw new QueryError(`${a.keyword} can be returned but not matched`);
    const below = MATCHED_BELOW.get(a.keyword);
    const c = condition(
      below ? below.column : STORED.get(a.keyword)!,
      a,
      key.matcher,
      q.caseInsensitiveNames,
    );
    where.push(below ? `EXISTS (SELECT 1 FROM ${below.from} AND ${c.sql})` : c.sql);
    params.push(...c.params);
  }
  if (q.afterId !== undefined) {
    where.push(`${column(table, 'id')} > ?`);
    params.push(q.afterId);
  }
  const returns = q.returns.filter((k) => {
    const a = findAttribute(k);
    return a && depthOf(a.level) <= depth && (STORED.has(k) || COMPUTED.has(k));
  });
  const select = [
    `${column(table, 'id')} AS "_id"`,
    ...returns.map((k, i) => `${STORED.get(k) ?? COMPUTED.get(k)} AS "r${i}"`),
  ];
  params.push(q.limit, q.offset ?? 0);
  return {
    sql:
      `SELECT ${select.join(', ')} FROM ${fromClause(depth)}` +
      `${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${column(table, 'id')} LIMIT ? OFFSET ?`,
    params,
    returns,
  };
}

/** `MetadataIndex.find` over a database, with prepared statements cached by the caller's `prepared`. */
export function indexFind(prepared: (sql: string) => Database.Statement<unknown[], Row>) {
  return (q: FindQuery): FindMatch[] => {
    if (!Number.isSafeInteger(q.limit) || q.limit < 0)
      throw new QueryError(`limit must be a non-negative integer`);
    const { sql, params, returns } = findSql(q);
    return prepared(sql)
      .all(...params)
      .map((row) => {
        const values: Record<string, string> = {};
        returns.forEach((k, i) => {
          const v = row[`r${i}`];
          const text = v === null || v === undefined ? '' : String(v);
          values[k] = MATCHED_BELOW.has(k) ? text.replace(/,/g, '\\') : text;
        });
        return { id: row._id as number, values };
      });
  };
}

/**
 * C-FIND and QIDO-RS over the ClickHouse index, with the SQLite index's matching (sqlite-index-find.ts): the
 * level's rows joined with their ancestors (`chainSource`), keys as conditions, wildcards as LIKE (escaped;
 * person names through ASCII `lower` when matched regardless of case, as SQLite's NOCASE and LIKE fold),
 * ModalitiesInStudy and SOPClassesInStudy matched through the levels below. ClickHouse 18.16 has no correlated
 * subqueries, so counts and the multi-valued study attributes are computed for the page's rows afterwards,
 * one grouped SELECT each.
 */
import {
  depthOf,
  findAttribute,
  QueryError,
  type FindAttribute,
  type FindMatch,
  type FindQuery,
  type Matcher,
} from '../find-query.js';
import { CHAIN, storedAttributes, type Row } from '../sqlite-index-tables.js';
import type { ClickHouseDb } from './client.js';
import { int, intList, str, strList } from './literal.js';
import { chainSource, PREFIX, q, type Tables } from './queries.js';

/** Keyword → the prefixed column of the joined rows that stores it. */
const STORED = new Map<string, string>([
  ...CHAIN.flatMap((spec, depth) =>
    storedAttributes(spec).map(([c, keyword]) => [keyword, q(PREFIX[depth] + c)] as const),
  ),
  ['SOPClassUID', q('im_sopClassUID')],
  ['AvailableTransferSyntaxUID', q('im_transferSyntaxUID')],
]);

const COMPUTED = new Set([
  'NumberOfPatientRelatedStudies',
  'NumberOfPatientRelatedSeries',
  'NumberOfPatientRelatedInstances',
  'NumberOfStudyRelatedSeries',
  'NumberOfStudyRelatedInstances',
  'ModalitiesInStudy',
  'SOPClassesInStudy',
  'NumberOfSeriesRelatedInstances',
]);

/** ASCII letters only, as SQLite's NOCASE and LIKE fold (and ClickHouse's `lower`). */
const asciiLower = (text: string) => text.replace(/[A-Z]/g, (c) => c.toLowerCase());

/** `\`, `%` and `_` escaped for LIKE, then DICOM's `*` and `?` as LIKE's `%` and `_`. */
const likeOf = (pattern: string) =>
  pattern
    .replace(/[\\%_]/g, (ch) => `\\${ch}`)
    .replace(/\*/g, '%')
    .replace(/\?/g, '_');

function paddedTime(time: string, high: boolean): string {
  const [whole, fraction = ''] = time.split('.');
  const rest = high ? '235959'.slice(whole.length) : '000000'.slice(whole.length);
  if (!high) return whole + rest + (fraction ? `.${fraction}` : '');
  return `${whole}${rest}.${fraction.padEnd(6, '9')}`;
}
const timeExpression = (expr: string) =>
  `if(length(${expr}) < 6, concat(${expr}, substring('000000', length(${expr}) + 1)), ${expr})`;

function condition(expr: string, a: FindAttribute, m: Matcher, caseInsensitiveNames: boolean): string {
  const noCase = a.vr === 'PN' && caseInsensitiveNames;
  switch (m.kind) {
    case 'single':
      return noCase ? `lower(${expr}) = ${str(asciiLower(m.value))}` : `${expr} = ${str(m.value)}`;
    case 'list':
      return `${expr} IN ${strList(m.values)}`;
    case 'wildcard':
      return noCase
        ? `lower(${expr}) LIKE ${str(likeOf(asciiLower(m.pattern)))}`
        : `${expr} LIKE ${str(likeOf(m.pattern))}`;
    case 'fuzzy': {
      const words = `lower(concat(' ', replaceAll(replaceAll(${expr}, '^', ' '), '=', ' ')))`;
      return `${words} LIKE ${str(`% ${likeOf(asciiLower(m.value.replace(/\^/g, ' ')))}%`)}`;
    }
    case 'range': {
      const time = a.vr === 'TM';
      const value = time ? timeExpression(expr) : expr;
      const parts = [`${expr} != ''`];
      if (m.from) parts.push(`${value} >= ${str(time ? paddedTime(m.from, false) : m.from)}`);
      if (m.to) parts.push(`${value} <= ${str(time ? paddedTime(m.to, true) : m.to)}`);
      return parts.join(' AND ');
    }
  }
}

export function clickHouseFind(db: ClickHouseDb, t: Tables) {
  /** parent id → child ids, for the children of `parents` in `table`. */
  const children = async (table: 'Studies' | 'Series', parentKey: string, parents: number[]) => {
    const byParent = new Map<number, number[]>();
    if (!parents.length) return byParent;
    const rows = await db.rows<{ id: number; p: number }>(
      `SELECT "id", ${q(parentKey)} AS "p" FROM ${t.keyed(table, parentKey, intList(parents))}`,
    );
    for (const r of rows) byParent.set(Number(r.p), [...(byParent.get(Number(r.p)) ?? []), Number(r.id)]);
    return byParent;
  };
  const imageCounts = async (seriesIds: number[]) => {
    const counts = new Map<number, number>();
    if (!seriesIds.length) return counts;
    const rows = await db.rows<{ p: number; n: number }>(
      `SELECT "seriesId" AS "p", count() AS "n" FROM ${t.keyed('Images', 'seriesId', intList(seriesIds))} GROUP BY "seriesId"`,
    );
    for (const r of rows) counts.set(Number(r.p), Number(r.n));
    return counts;
  };
  const sum = (ids: number[] | undefined, counts: Map<number, number>) =>
    (ids ?? []).reduce((total, id) => total + (counts.get(id) ?? 0), 0);
  /** Distinct non-empty values, in row order, joined as DICOM multi-values. */
  const distinctValues = (rows: Array<{ p: number; v: string }>) => {
    const byParent = new Map<number, string[]>();
    for (const r of rows) {
      const list = byParent.get(Number(r.p)) ?? [];
      if (!list.includes(r.v)) list.push(r.v);
      byParent.set(Number(r.p), list);
    }
    return (id: number) => (byParent.get(id) ?? []).join(',').replace(/,/g, '\\');
  };

  /** The computed values of `returns` for the rows `ids` at `depth`. */
  async function computed(depth: number, ids: number[], returns: string[]) {
    const values = new Map<string, (id: number) => string>();
    const wants = (k: string) => returns.includes(k);
    if (!ids.length) return values;
    if (depth === 0) {
      const studies = await children('Studies', 'patientId', ids);
      const studyIds = [...studies.values()].flat();
      const series = await children('Series', 'studyId', studyIds);
      values.set('NumberOfPatientRelatedStudies', (id) => String(studies.get(id)?.length ?? 0));
      values.set('NumberOfPatientRelatedSeries', (id) =>
        String((studies.get(id) ?? []).reduce((n, s) => n + (series.get(s)?.length ?? 0), 0)),
      );
      if (wants('NumberOfPatientRelatedInstances')) {
        const counts = await imageCounts([...series.values()].flat());
        values.set('NumberOfPatientRelatedInstances', (id) =>
          String((studies.get(id) ?? []).reduce((n, s) => n + sum(series.get(s), counts), 0)),
        );
      }
    } else if (depth === 1) {
      const series = await children('Series', 'studyId', ids);
      values.set('NumberOfStudyRelatedSeries', (id) => String(series.get(id)?.length ?? 0));
      if (wants('NumberOfStudyRelatedInstances')) {
        const counts = await imageCounts([...series.values()].flat());
        values.set('NumberOfStudyRelatedInstances', (id) => String(sum(series.get(id), counts)));
      }
      if (wants('ModalitiesInStudy'))
        values.set(
          'ModalitiesInStudy',
          distinctValues(
            await db.rows(
              `SELECT "studyId" AS "p", "modality" AS "v" FROM ${t.keyed('Series', 'studyId', intList(ids))} WHERE "modality" != '' ORDER BY "id"`,
            ),
          ),
        );
      if (wants('SOPClassesInStudy')) {
        const studyOf = new Map([...series].flatMap(([study, list]) => list.map((s) => [s, study] as const)));
        const seriesIds = [...studyOf.keys()];
        const rows = seriesIds.length
          ? await db.rows<{ p: number; v: string }>(
              `SELECT "seriesId" AS "p", "sopClassUID" AS "v" FROM ${t.keyed('Images', 'seriesId', intList(seriesIds))} WHERE "sopClassUID" != '' ORDER BY "id"`,
            )
          : [];
        values.set(
          'SOPClassesInStudy',
          distinctValues(rows.map((r) => ({ p: studyOf.get(Number(r.p))!, v: r.v }))),
        );
      }
    } else if (depth === 2 && wants('NumberOfSeriesRelatedInstances')) {
      const counts = await imageCounts(ids);
      values.set('NumberOfSeriesRelatedInstances', (id) => String(counts.get(id) ?? 0));
    }
    return values;
  }

  return async (query: FindQuery): Promise<FindMatch[]> => {
    if (!Number.isSafeInteger(query.limit) || query.limit < 0)
      throw new QueryError(`limit must be a non-negative integer`);
    const depth = depthOf(query.level);
    if (depth < 0) throw new QueryError(`Unknown query level ${String(query.level)}`);
    const id = q(`${PREFIX[depth]}id`);
    const where: string[] = [];
    for (const key of query.keys) {
      const a = findAttribute(key.keyword);
      if (!a) throw new QueryError(`${key.keyword} cannot be matched here`);
      if (depthOf(a.level) > depth)
        throw new QueryError(`${a.keyword} is a ${a.level} attribute, below the query level ${query.level}`);
      if (!a.matchable) throw new QueryError(`${a.keyword} can be returned but not matched`);
      if (a.keyword === 'ModalitiesInStudy')
        where.push(
          `"st_id" IN (SELECT "studyId" FROM ${t.live('Series')} WHERE ${condition('"modality"', a, key.matcher, query.caseInsensitiveNames)})`,
        );
      else if (a.keyword === 'SOPClassesInStudy')
        where.push(
          `"st_id" IN (SELECT "studyId" FROM ${t.live('Series')} WHERE "id" IN (SELECT "seriesId" FROM ${t.live('Images')} WHERE ${condition('"sopClassUID"', a, key.matcher, query.caseInsensitiveNames)}))`,
        );
      else where.push(condition(STORED.get(a.keyword)!, a, key.matcher, query.caseInsensitiveNames));
    }
    if (query.afterId !== undefined) where.push(`${id} > ${int(query.afterId)}`);
    const returns = query.returns.filter((k) => {
      const a = findAttribute(k);
      return a && depthOf(a.level) <= depth && (STORED.has(k) || COMPUTED.has(k));
    });
    const offset = query.offset ?? 0;
    const rows = await db.rows<Row>(
      `SELECT * FROM ${chainSource(t, depth)}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${id} LIMIT ${int(offset)}, ${int(query.limit)}`,
    );
    const ids = rows.map((row) => Number(row[`${PREFIX[depth]}id`]));
    const extra = await computed(
      depth,
      ids,
      returns.filter((k) => COMPUTED.has(k)),
    );
    return rows.map((row, n) => {
      const values: Record<string, string> = {};
      for (const k of returns) {
        const stored = STORED.get(k);
        values[k] = stored ? String(row[stored.slice(1, -1)] ?? '') : (extra.get(k)?.(ids[n]) ?? '');
      }
      return { id: ids[n], values };
    });
  };
}

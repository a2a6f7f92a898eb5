/**
 * Series types, their rules and rule attributes in the PostgreSQL state store: the same tables as the SQLite
 * part (sqlite-store.ts), whose row mapper this part shares. `tag` is BIGINT (a tag number reaches
 * 0xFFFFFFFF); `values` is quoted, a keyword. Deleting a type deletes its rules and their attributes
 * (foreign keys cascade).
 */
import type { PgDb, PgStatePart } from '../storage/postgres-state/part.js';
import { postgresSchema } from '../storage/postgres-state/part.js';
import type { SeriesType, SeriesTypeDefinition, SeriesTypeRule, SeriesTypeStore } from './store.js';
import {
  attribute,
  seriesTypeNameTaken,
  type AttributeRow,
  seriesTypes as sqliteSeriesTypes,
} from './sqlite-store.js';

/** The SQLite part's tables, as PostgreSQL takes them. */
const SCHEMA = postgresSchema(sqliteSeriesTypes.schema);

const TYPE = 'SELECT id, name FROM SeriesTypes';
const RULE = 'SELECT id, seriesTypeId FROM SeriesTypeRules';
const ATTRIBUTE_COLUMNS = 'id, seriesTypeRuleId, tag, name, tagPath, namePath, "values", operator, flags';

/** A type joined with one of its rules (or none) and one of the rule's attributes (or none). */
interface DefinitionRow {
  id: number;
  name: string;
  ruleId: number | null;
  attributeId: number | null;
  tag: number;
  attributeName: string;
  tagPath: string | null;
  namePath: string | null;
  values: string;
  operator: string;
  flags: string;
}

/**
 * Every type with its rules and attributes, read in one statement so that they come from one snapshot (a
 * rule is never seen without the attributes it had then). Rows arrive ordered by type, rule and attribute.
 */
async function definitions(db: PgDb): Promise<SeriesTypeDefinition[]> {
  const rows = await db.rows<DefinitionRow>(
    `SELECT t.id, t.name, r.id AS "ruleId", a.id AS "attributeId", a.tag, a.name AS "attributeName",
            a.tagPath, a.namePath, a."values", a.operator, a.flags
       FROM SeriesTypes t
       LEFT JOIN SeriesTypeRules r ON r.seriesTypeId = t.id
       LEFT JOIN SeriesTypeRuleAttributes a ON a.seriesTypeRuleId = r.id
      ORDER BY t.id, r.id, a.id`,
  );
  const types: SeriesTypeDefinition[] = [];
  for (const row of rows) {
    let type = types.at(-1);
    if (type?.id !== row.id) types.push((type = { id: row.id, name: row.name, rules: [] }));
    if (row.ruleId === null) continue;
    let rule = type.rules.at(-1);
    if (rule?.id !== row.ruleId)
      type.rules.push((rule = { id: row.ruleId, seriesTypeId: row.id, attributes: [] }));
    if (row.attributeId !== null)
      rule.attributes.push(
        attribute({ ...row, id: row.attributeId, seriesTypeRuleId: row.ruleId, name: row.attributeName }),
      );
  }
  return types;
}

export const seriesTypes: PgStatePart<SeriesTypeStore> = {
  schema: SCHEMA,
  create: (db) => ({
    listSeriesTypes: (startIndex, count) =>
      db.rows<SeriesType>(`${TYPE} ORDER BY id LIMIT $1 OFFSET $2`, [count, startIndex]),
    seriesType: (id) => db.row<SeriesType>(`${TYPE} WHERE id = $1`, [id]),
    insertSeriesType: (name) =>
      db.row<SeriesType>(
        'INSERT INTO SeriesTypes (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id, name',
        [name],
      ),
    // One statement: the row comes back whether it was inserted or found (and locked) by the no-op update.
    ensureSeriesType: async (name) =>
      (await db.row<SeriesType>(
        `INSERT INTO SeriesTypes (name) VALUES ($1)
           ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id, name`,
        [name],
      ))!,
    updateSeriesType: (id, name) =>
      db.atomic(async (db) => {
        const other = await db.row<SeriesType>(`${TYPE} WHERE name = $1`, [name]);
        if (other && other.id !== id) throw seriesTypeNameTaken(name);
        try {
          return (await db.run('UPDATE SeriesTypes SET name = $1 WHERE id = $2', [name, id])) === 1;
        } catch (err) {
          // Another process took the name between the check and the update.
          if ((err as { code?: string }).code === '23505') throw seriesTypeNameTaken(name);
          throw err;
        }
      }),
    deleteSeriesType: async (id) => (await db.run('DELETE FROM SeriesTypes WHERE id = $1', [id])) === 1,
    listSeriesTypeRules: (seriesTypeId) =>
      db.rows<SeriesTypeRule>(`${RULE} WHERE seriesTypeId = $1 ORDER BY id`, [seriesTypeId]),
    seriesTypeRule: (id) => db.row<SeriesTypeRule>(`${RULE} WHERE id = $1`, [id]),
    insertSeriesTypeRule: async (seriesTypeId) =>
      (await db.row<SeriesTypeRule>(
        'INSERT INTO SeriesTypeRules (seriesTypeId) VALUES ($1) RETURNING id, seriesTypeId',
        [seriesTypeId],
      ))!,
    deleteSeriesTypeRule: async (id) =>
      (await db.run('DELETE FROM SeriesTypeRules WHERE id = $1', [id])) === 1,
    listSeriesTypeRuleAttributes: async (ruleId) =>
      (
        await db.rows<AttributeRow>(
          `SELECT ${ATTRIBUTE_COLUMNS} FROM SeriesTypeRuleAttributes WHERE seriesTypeRuleId = $1 ORDER BY id`,
          [ruleId],
        )
      ).map(attribute),
    insertSeriesTypeRuleAttribute: async (a) =>
      attribute(
        (await db.row<AttributeRow>(
          `INSERT INTO SeriesTypeRuleAttributes (seriesTypeRuleId, tag, name, tagPath, namePath, "values", operator, flags)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${ATTRIBUTE_COLUMNS}`,
          [a.seriesTypeRuleId, a.tag, a.name, a.tagPath, a.namePath, a.values, a.operator, a.flags],
        ))!,
      ),
    deleteSeriesTypeRuleAttribute: async (id) =>
      (await db.run('DELETE FROM SeriesTypeRuleAttributes WHERE id = $1', [id])) === 1,
    seriesTypeDefinitions: () => definitions(db),
  }),
};

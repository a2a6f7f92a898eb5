/**
 * Series types, their rules and rule attributes in the state store (Slicebox's model: a type applies when
 * any of its rules matches, a rule when all of its attributes match). Assignments live in the index.
 */
import type Database from 'better-sqlite3';
import { BadRequestError } from '../errors.js';
import type {
  AttributeOperator,
  SeriesType,
  SeriesTypeDefinition,
  SeriesTypeRule,
  SeriesTypeRuleAttribute,
  SeriesTypeStore,
} from './store.js';
import type { StatePart } from '../storage/sqlite-state-part.js';
import { settled, type Synchronous } from '../storage/settled.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS SeriesTypes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS SeriesTypeRules (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  seriesTypeId INTEGER NOT NULL REFERENCES SeriesTypes (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS SeriesTypeRulesByType ON SeriesTypeRules (seriesTypeId);
CREATE TABLE IF NOT EXISTS SeriesTypeRuleAttributes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  seriesTypeRuleId INTEGER NOT NULL REFERENCES SeriesTypeRules (id) ON DELETE CASCADE,
  tag INTEGER NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  tagPath TEXT,
  namePath TEXT,
  "values" TEXT NOT NULL,
  operator TEXT NOT NULL DEFAULT 'equals',
  flags TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS SeriesTypeRuleAttributesByRule ON SeriesTypeRuleAttributes (seriesTypeRuleId);
`;

/** A SeriesTypeRuleAttributes row (shared with the PostgreSQL part, postgres-store.ts). */
export interface AttributeRow extends Omit<SeriesTypeRuleAttribute, 'operator'> {
  operator: string;
}

export const attribute = (row: AttributeRow): SeriesTypeRuleAttribute => ({
  id: row.id,
  seriesTypeRuleId: row.seriesTypeRuleId,
  tag: row.tag,
  name: row.name,
  tagPath: row.tagPath,
  namePath: row.namePath,
  values: row.values,
  operator: row.operator as AttributeOperator,
  flags: row.flags,
});

/** Renaming a type to another type's name. */
export const seriesTypeNameTaken = (name: string) =>
  new BadRequestError(`A series type named "${name}" already exists`);

function seriesTypeStore(db: Database.Database): Synchronous<SeriesTypeStore> {
  const q = {
    list: db.prepare<[number, number], SeriesType>(
      'SELECT id, name FROM SeriesTypes ORDER BY id LIMIT ? OFFSET ?',
    ),
    all: db.prepare<[], SeriesType>('SELECT id, name FROM SeriesTypes ORDER BY id'),
    byId: db.prepare<[number], SeriesType>('SELECT id, name FROM SeriesTypes WHERE id = ?'),
    byName: db.prepare<[string], SeriesType>('SELECT id, name FROM SeriesTypes WHERE name = ?'),
    insert: db.prepare<[string]>('INSERT INTO SeriesTypes (name) VALUES (?) ON CONFLICT (name) DO NOTHING'),
    rename: db.prepare<[string, number]>('UPDATE SeriesTypes SET name = ? WHERE id = ?'),
    delete: db.prepare<[number]>('DELETE FROM SeriesTypes WHERE id = ?'),
    rules: db.prepare<[number], SeriesTypeRule>(
      'SELECT id, seriesTypeId FROM SeriesTypeRules WHERE seriesTypeId = ? ORDER BY id',
    ),
    allRules: db.prepare<[], SeriesTypeRule>('SELECT id, seriesTypeId FROM SeriesTypeRules ORDER BY id'),
    rule: db.prepare<[number], SeriesTypeRule>('SELECT id, seriesTypeId FROM SeriesTypeRules WHERE id = ?'),
    insertRule: db.prepare<[number]>('INSERT INTO SeriesTypeRules (seriesTypeId) VALUES (?)'),
    deleteRule: db.prepare<[number]>('DELETE FROM SeriesTypeRules WHERE id = ?'),
    attributes: db.prepare<[number], AttributeRow>(
      'SELECT * FROM SeriesTypeRuleAttributes WHERE seriesTypeRuleId = ? ORDER BY id',
    ),
    allAttributes: db.prepare<[], AttributeRow>('SELECT * FROM SeriesTypeRuleAttributes ORDER BY id'),
    attributeById: db.prepare<[number], AttributeRow>('SELECT * FROM SeriesTypeRuleAttributes WHERE id = ?'),
    insertAttribute: db.prepare(
      'INSERT INTO SeriesTypeRuleAttributes (seriesTypeRuleId, tag, name, tagPath, namePath, "values", operator, flags) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    deleteAttribute: db.prepare<[number]>('DELETE FROM SeriesTypeRuleAttributes WHERE id = ?'),
  };
  return {
    listSeriesTypes: (startIndex, count) => q.list.all(count, startIndex),
    seriesType: (id) => q.byId.get(id),
    insertSeriesType: (name) => {
      const r = q.insert.run(name);
      return r.changes === 1 ? q.byId.get(Number(r.lastInsertRowid)) : undefined;
    },
    ensureSeriesType: (name) => {
      q.insert.run(name);
      return q.byName.get(name)!;
    },
    updateSeriesType: (id, name) => {
      const other = q.byName.get(name);
      if (other && other.id !== id) throw seriesTypeNameTaken(name);
      return q.rename.run(name, id).changes === 1;
    },
    deleteSeriesType: (id) => q.delete.run(id).changes === 1,
    listSeriesTypeRules: (seriesTypeId) => q.rules.all(seriesTypeId),
    seriesTypeRule: (id) => q.rule.get(id),
    insertSeriesTypeRule: (seriesTypeId) =>
      q.rule.get(Number(q.insertRule.run(seriesTypeId).lastInsertRowid))!,
    deleteSeriesTypeRule: (id) => q.deleteRule.run(id).changes === 1,
    listSeriesTypeRuleAttributes: (ruleId) => q.attributes.all(ruleId).map(attribute),
    insertSeriesTypeRuleAttribute: (a) => {
      const r = q.insertAttribute.run(
        a.seriesTypeRuleId,
        a.tag,
        a.name,
        a.tagPath,
        a.namePath,
        a.values,
        a.operator,
        a.flags,
      );
      return attribute(q.attributeById.get(Number(r.lastInsertRowid))!);
    },
    deleteSeriesTypeRuleAttribute: (id) => q.deleteAttribute.run(id).changes === 1,
    seriesTypeDefinitions: () => {
      const attributesByRule = new Map<number, SeriesTypeRuleAttribute[]>();
      for (const row of q.allAttributes.all()) {
        const list = attributesByRule.get(row.seriesTypeRuleId) ?? [];
        list.push(attribute(row));
        attributesByRule.set(row.seriesTypeRuleId, list);
      }
      const rulesByType = new Map<number, SeriesTypeDefinition['rules']>();
      for (const rule of q.allRules.all()) {
        const list = rulesByType.get(rule.seriesTypeId) ?? [];
        list.push({ ...rule, attributes: attributesByRule.get(rule.id) ?? [] });
        rulesByType.set(rule.seriesTypeId, list);
      }
      return q.all.all().map((type) => ({ ...type, rules: rulesByType.get(type.id) ?? [] }));
    },
  };
}

export const seriesTypes: StatePart<SeriesTypeStore> = {
  schema: SCHEMA,
  create: (db) => settled<SeriesTypeStore>(seriesTypeStore(db)),
};

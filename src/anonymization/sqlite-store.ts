/**
 * Anonymization keys and their values in the state store. A key is recorded inside one IMMEDIATE write
 * transaction that also reads the key it harmonizes with, so concurrent images (in this process or in
 * another one on the same file) are serialized and one patient never gets two pseudonyms. Columns that
 * `orderBy` and query properties may name come from a fixed list; every value is a bound parameter.
 */
import type Database from 'better-sqlite3';
import type {
  AnonymizationKey,
  AnonymizationKeyRow,
  AnonymizationKeyStore,
  AnonymizationKeyValue,
  KeyIdentifiers,
  KeyLevel,
  KeyMatch,
} from './store.js';
import { BadRequestError } from '../errors.js';
import type { StatePart } from '../storage/sqlite-state-part.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS AnonymizationKeys (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created INTEGER NOT NULL,
  imageId INTEGER NOT NULL,
  patientName TEXT NOT NULL,
  anonPatientName TEXT NOT NULL,
  patientID TEXT NOT NULL,
  anonPatientID TEXT NOT NULL,
  studyInstanceUID TEXT NOT NULL,
  anonStudyInstanceUID TEXT NOT NULL,
  seriesInstanceUID TEXT NOT NULL,
  anonSeriesInstanceUID TEXT NOT NULL,
  sopInstanceUID TEXT NOT NULL,
  anonSOPInstanceUID TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS AnonymizationKeysByPatient ON AnonymizationKeys (patientID, patientName);
CREATE INDEX IF NOT EXISTS AnonymizationKeysByAnonPatient ON AnonymizationKeys (anonPatientID, anonPatientName);
CREATE INDEX IF NOT EXISTS AnonymizationKeysByStudy ON AnonymizationKeys (studyInstanceUID);
CREATE INDEX IF NOT EXISTS AnonymizationKeysByAnonStudy ON AnonymizationKeys (anonStudyInstanceUID);
CREATE TABLE IF NOT EXISTS AnonymizationKeyValues (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  anonymizationKeyId INTEGER NOT NULL REFERENCES AnonymizationKeys (id) ON DELETE CASCADE,
  tagPath TEXT NOT NULL,
  level TEXT NOT NULL CHECK (level IN ('PATIENT', 'STUDY', 'SERIES', 'IMAGE')),
  value TEXT NOT NULL,
  anonymizedValue TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS AnonymizationKeyValuesByKey ON AnonymizationKeyValues (anonymizationKeyId);
`;

/** The columns of AnonymizationKeys, the only names orderBy and query properties may use. */
export const KEY_COLUMNS = [
  'id',
  'created',
  'imageId',
  'patientName',
  'anonPatientName',
  'patientID',
  'anonPatientID',
  'studyInstanceUID',
  'anonStudyInstanceUID',
  'seriesInstanceUID',
  'anonSeriesInstanceUID',
  'sopInstanceUID',
  'anonSOPInstanceUID',
] as const;
const TEXT_COLUMNS = KEY_COLUMNS.filter((c) => c !== 'id' && c !== 'created' && c !== 'imageId');

function column(name: string, field: string): string {
  if (!(KEY_COLUMNS as readonly string[]).includes(name))
    throw new BadRequestError(
      `${field}: "${name}" is not a column of anonymization keys (${KEY_COLUMNS.join(', ')})`,
    );
  return name;
}

/** Match conditions, most specific first, over the real or the anonymized identifiers. */
const LEVELS: Array<{ level: KeyLevel; fields: Array<keyof KeyIdentifiers> }> = [
  {
    level: 'IMAGE',
    fields: ['patientName', 'patientID', 'studyInstanceUID', 'seriesInstanceUID', 'sopInstanceUID'],
  },
  { level: 'SERIES', fields: ['patientName', 'patientID', 'studyInstanceUID', 'seriesInstanceUID'] },
  { level: 'STUDY', fields: ['patientName', 'patientID', 'studyInstanceUID'] },
  { level: 'PATIENT', fields: ['patientName', 'patientID'] },
];
const ANON: Record<keyof KeyIdentifiers, string> = {
  patientName: 'anonPatientName',
  patientID: 'anonPatientID',
  studyInstanceUID: 'anonStudyInstanceUID',
  seriesInstanceUID: 'anonSeriesInstanceUID',
  sopInstanceUID: 'anonSOPInstanceUID',
};

function anonymizationKeyStore(db: Database.Database): AnonymizationKeyStore {
  const matchers = (anon: boolean) =>
    LEVELS.map(({ level, fields }) => ({
      level,
      fields,
      statement: db.prepare<unknown[], AnonymizationKey>(
        `SELECT * FROM AnonymizationKeys WHERE ${fields
          .map((f) => `${anon ? ANON[f] : f} = ?`)
          .join(' AND ')} ORDER BY id DESC LIMIT 1`,
      ),
    }));
  const byReal = matchers(false);
  const byAnon = matchers(true);
  const q = {
    insert: db.prepare(
      `INSERT INTO AnonymizationKeys (${KEY_COLUMNS.slice(1).join(', ')})
       VALUES (${KEY_COLUMNS.slice(1)
         .map((c) => `@${c}`)
         .join(', ')})`,
    ),
    insertValue: db.prepare(
      `INSERT INTO AnonymizationKeyValues (anonymizationKeyId, tagPath, level, value, anonymizedValue)
       VALUES (?, ?, ?, ?, ?)`,
    ),
    byId: db.prepare<[number], AnonymizationKey>('SELECT * FROM AnonymizationKeys WHERE id = ?'),
    delete: db.prepare<[number]>('DELETE FROM AnonymizationKeys WHERE id = ?'),
    values: db.prepare<[number], AnonymizationKeyValue>(
      'SELECT * FROM AnonymizationKeyValues WHERE anonymizationKeyId = ? ORDER BY id',
    ),
    rows: db.prepare<[number, number], AnonymizationKeyRow>(
      `SELECT k.*, COALESCE(v.tagPath, '') AS tagPath, COALESCE(v.value, '') AS value,
              COALESCE(v.anonymizedValue, '') AS anonymizedValue
         FROM (SELECT * FROM AnonymizationKeys WHERE id > ? ORDER BY id LIMIT ?) k
         LEFT JOIN AnonymizationKeyValues v ON v.anonymizationKeyId = k.id
        ORDER BY k.id, v.id`,
    ),
  };
  const find = (list: ReturnType<typeof matchers>, ids: KeyIdentifiers): KeyMatch | undefined => {
    for (const { level, fields, statement } of list) {
      const key = statement.get(...fields.map((f) => ids[f]));
      if (key) return { level, key, values: q.values.all(key.id) };
    }
    return undefined;
  };
  const findAndInsert = (
    real: KeyIdentifiers,
    decide: Parameters<AnonymizationKeyStore['recordAnonymizationKey']>[1],
  ) => {
    const { values, ...key } = decide(find(byReal, real));
    const id = Number(q.insert.run(key).lastInsertRowid);
    for (const v of values) q.insertValue.run(id, v.tagPath, v.level, v.value, v.anonymizedValue);
    return { key: q.byId.get(id)!, values: q.values.all(id) };
  };
  const record = db.transaction(findAndInsert);

  return {
    // IMMEDIATE takes the write lock before the read, so no other writer can slip in between.
    recordAnonymizationKey: (real, decide) => record.immediate(real, decide),
    findKeyByAnonymized: (anon) => find(byAnon, anon),
    listAnonymizationKeys: ({ startIndex, count, orderBy, orderAscending = true, filter }) => {
      const where = filter
        ? `WHERE ${TEXT_COLUMNS.map((c) => `lower(${c}) LIKE ? ESCAPE '\\'`).join(' OR ')}`
        : '';
      const prefix = filter ? `${filter.toLowerCase().replace(/[\\%_]/g, (m) => `\\${m}`)}%` : undefined;
      const order = `${orderBy ? column(orderBy, 'orderby') : 'id'} ${orderAscending ? 'ASC' : 'DESC'}`;
      return db
        .prepare<unknown[], AnonymizationKey>(
          `SELECT * FROM AnonymizationKeys ${where} ORDER BY ${order}, id LIMIT ? OFFSET ?`,
        )
        .all(...(prefix ? TEXT_COLUMNS.map(() => prefix) : []), count, startIndex);
    },
    queryAnonymizationKeys: ({ startIndex, count, order, queryProperties }) => {
      const params: unknown[] = [];
      const conditions = queryProperties.map((p, i) => {
        const c = column(p.propertyName, `queryProperties[${i}].propertyName`);
        if (p.operator === 'like') {
          params.push(`%${p.propertyValue.toLowerCase().replace(/[\\%_]/g, (m) => `\\${m}`)}%`);
          return `lower(${c}) LIKE ? ESCAPE '\\'`;
        }
        params.push(p.propertyValue);
        return `${c} = ?`;
      });
      const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
      const orderBy = order
        ? `${column(order.orderBy, 'order.orderBy')} ${order.orderAscending ? 'ASC' : 'DESC'}, id`
        : 'id';
      return db
        .prepare<unknown[], AnonymizationKey>(
          `SELECT * FROM AnonymizationKeys ${where} ORDER BY ${orderBy} LIMIT ? OFFSET ?`,
        )
        .all(...params, count, startIndex);
    },
    anonymizationKey: (id) => q.byId.get(id),
    deleteAnonymizationKey: (id) => q.delete.run(id).changes === 1,
    anonymizationKeyValues: (keyId) => q.values.all(keyId),
    anonymizationKeyRows: (afterKeyId, keyCount) => q.rows.all(afterKeyId, keyCount),
  };
}

export const anonymizationKeys: StatePart<AnonymizationKeyStore> = {
  schema: SCHEMA,
  create: anonymizationKeyStore,
};

/**
 * Anonymization keys and their values in the state store. A key is recorded inside one IMMEDIATE write
 * transaction that also reads the keys it harmonizes with, so concurrent images (in this process or in
 * another one on the same file) are serialized and one patient never gets two pseudonyms. Each key keeps the
 * options it was made with (`profile`, not part of Slicebox's key), so that keys made under different
 * options feed each other only where they agree. Columns that `orderBy` and query properties may name come
 * from a fixed list; every value is a bound parameter.
 */
import type Database from 'better-sqlite3';
import type {
  AnonymizationKey,
  AnonymizationKeyQuery,
  AnonymizationKeyRow,
  AnonymizationKeyStore,
  AnonymizationKeyValue,
  KeyCandidate,
  KeyIdentifiers,
  KeyLevel,
  KeyLookup,
  KeyMatch,
} from './store.js';
import { BadRequestError } from '../errors.js';
import type { StatePart } from '../storage/sqlite-state-part.js';
import { settled, type Synchronous } from '../storage/settled.js';
import { OPTIONS, OPTION_NAMES } from './deid/profile.js';

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
  anonSOPInstanceUID TEXT NOT NULL,
  profile TEXT NOT NULL DEFAULT ''
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
/** The text columns: those a listing's filter looks in, and those a PostgreSQL listing sorts by code point. */
export const TEXT_COLUMNS: readonly string[] = KEY_COLUMNS.filter(
  (c) => c !== 'id' && c !== 'created' && c !== 'imageId',
);
/** The columns of a key as Slicebox shows it (the profile stays inside). */
export const SELECT_KEY = KEY_COLUMNS.join(', ');
const SELECT_KEY_AS_K = KEY_COLUMNS.map((c) => `k.${c}`).join(', ');

/** The option names a key's profile column holds (comma-separated; empty for keys from before it). */
export const profileOf = (text: string): string[] => (text ? text.split(',') : []);

function column(name: string, field: string): string {
  if (!(KEY_COLUMNS as readonly string[]).includes(name))
    throw new BadRequestError(
      `${field}: "${name}" is not a column of anonymization keys (${KEY_COLUMNS.join(', ')})`,
    );
  return name;
}

/**
 * Match conditions, most specific first, over the real or the anonymized identifiers. Candidates of a level
 * leave out the keys of the more specific one (`narrower`, the field that level adds), so each key comes once.
 */
export const LEVELS: Array<{
  level: KeyLevel;
  fields: Array<keyof KeyIdentifiers>;
  narrower?: keyof KeyIdentifiers;
}> = [
  {
    level: 'IMAGE',
    fields: ['patientName', 'patientID', 'studyInstanceUID', 'seriesInstanceUID', 'sopInstanceUID'],
  },
  {
    level: 'SERIES',
    fields: ['patientName', 'patientID', 'studyInstanceUID', 'seriesInstanceUID'],
    narrower: 'sopInstanceUID',
  },
  {
    level: 'STUDY',
    fields: ['patientName', 'patientID', 'studyInstanceUID'],
    narrower: 'seriesInstanceUID',
  },
  { level: 'PATIENT', fields: ['patientName', 'patientID'], narrower: 'studyInstanceUID' },
];
export const ANON: Record<keyof KeyIdentifiers, string> = {
  patientName: 'anonPatientName',
  patientID: 'anonPatientID',
  studyInstanceUID: 'anonStudyInstanceUID',
  seriesInstanceUID: 'anonSeriesInstanceUID',
  sopInstanceUID: 'anonSOPInstanceUID',
};

/** Rows of candidates read at a time. */
export const CANDIDATE_PAGE = 32;

/** The insert's columns: a key's, but its id, then its profile. */
export const INSERT_COLUMNS = [...KEY_COLUMNS.slice(1), 'profile'] as const;

/** One page of the CSV export (see AnonymizationKeyStore.anonymizationKeyRows), with the engine's placeholders. */
export const keyRowsSql = (afterKeyId: string, keyCount: string): string =>
  `SELECT ${SELECT_KEY_AS_K}, COALESCE(v.tagPath, '') AS tagPath, COALESCE(v.value, '') AS value,
          COALESCE(v.anonymizedValue, '') AS anonymizedValue
     FROM (SELECT * FROM AnonymizationKeys WHERE id > ${afterKeyId} ORDER BY id LIMIT ${keyCount}) k
     LEFT JOIN AnonymizationKeyValues v ON v.anonymizationKeyId = k.id
    ORDER BY k.id, v.id`;

/** How an engine writes what differs in a listing of keys. */
export interface KeyListDialect {
  /** The placeholder of the parameter at this position (1-based). */
  param(position: number): string;
  /** `column` matches `pattern` (lower-case, escaped with \) whatever the case of its letters. */
  like(column: string, pattern: string): string;
  /** `column` as ORDER BY sorts it: text by code point, as SQLite's BINARY collation. */
  sortKey(column: string): string;
}

/** A LIKE pattern matching `text` literally (lower-cased; %, _ and \ escaped with \), between `before` and `after`. */
const likePattern = (before: string, text: string, after: string): string =>
  `${before}${text.toLowerCase().replace(/[\\%_]/g, (m) => `\\${m}`)}${after}`;

/**
 * The statement of `listAnonymizationKeys`: the filter is a prefix of any text column, whatever the case;
 * `orderBy` must name a column. Answers the SQL and its parameters in order.
 */
export function listKeysSql(
  opts: Parameters<AnonymizationKeyStore['listAnonymizationKeys']>[0],
  dialect: KeyListDialect,
): { sql: string; params: unknown[] } {
  const { startIndex, count, orderBy, orderAscending = true, filter } = opts;
  const params: unknown[] = [];
  const bind = (value: unknown) => dialect.param(params.push(value));
  const where = filter
    ? `WHERE ${TEXT_COLUMNS.map((c) => dialect.like(c, bind(likePattern('', filter, '%')))).join(' OR ')}`
    : '';
  const order = `${dialect.sortKey(orderBy ? column(orderBy, 'orderby') : 'id')} ${orderAscending ? 'ASC' : 'DESC'}`;
  const sql = `SELECT ${SELECT_KEY} FROM AnonymizationKeys ${where} ORDER BY ${order}, id`;
  return { sql: `${sql} LIMIT ${bind(count)} OFFSET ${bind(startIndex)}`, params };
}

/** The statement of `queryAnonymizationKeys`: every property must hold ('like' contains, whatever the case). */
export function queryKeysSql(
  query: AnonymizationKeyQuery,
  dialect: KeyListDialect,
): { sql: string; params: unknown[] } {
  const { startIndex, count, order, queryProperties } = query;
  const params: unknown[] = [];
  const bind = (value: unknown) => dialect.param(params.push(value));
  const conditions = queryProperties.map((p, i) => {
    const c = column(p.propertyName, `queryProperties[${i}].propertyName`);
    return p.operator === 'like'
      ? dialect.like(c, bind(likePattern('%', p.propertyValue, '%')))
      : `${c} = ${bind(p.propertyValue)}`;
  });
  const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
  const orderBy = order
    ? `${dialect.sortKey(column(order.orderBy, 'order.orderBy'))} ${order.orderAscending ? 'ASC' : 'DESC'}, id`
    : 'id';
  const sql = `SELECT ${SELECT_KEY} FROM AnonymizationKeys ${where} ORDER BY ${orderBy}`;
  return { sql: `${sql} LIMIT ${bind(count)} OFFSET ${bind(startIndex)}`, params };
}

const SQLITE_DIALECT: KeyListDialect = {
  param: () => '?',
  like: (c, pattern) => `lower(${c}) LIKE ${pattern} ESCAPE '\\'`,
  sortKey: (c) => c,
};

function anonymizationKeyStore(db: Database.Database): Synchronous<AnonymizationKeyStore> {
  const byAnon = LEVELS.map(({ level, fields }) => ({
    level,
    fields,
    statement: db.prepare<unknown[], AnonymizationKey & { profile: string }>(
      `SELECT ${SELECT_KEY}, profile FROM AnonymizationKeys WHERE ${fields
        .map((f) => `${ANON[f]} = ?`)
        .join(' AND ')} ORDER BY id DESC LIMIT 1`,
    ),
  }));
  // Candidates by real identifiers, each level without the more specific one's keys (so each key comes
  // once), newest first, a page at a time.
  const byReal = LEVELS.map(({ level, fields, narrower }) => ({
    level,
    fields,
    narrower,
    statement: db.prepare<unknown[], { id: number; profile: string }>(
      `SELECT id, profile FROM AnonymizationKeys WHERE ${fields.map((f) => `${f} = ?`).join(' AND ')}${
        narrower ? ` AND ${narrower} != ?` : ''
      } AND id < ? ORDER BY id DESC LIMIT ${CANDIDATE_PAGE}`,
    ),
  }));
  const q = {
    insert: db.prepare(
      `INSERT INTO AnonymizationKeys (${INSERT_COLUMNS.join(', ')})
       VALUES (${INSERT_COLUMNS.map((c) => `@${c}`).join(', ')})`,
    ),
    insertValue: db.prepare(
      `INSERT INTO AnonymizationKeyValues (anonymizationKeyId, tagPath, level, value, anonymizedValue)
       VALUES (?, ?, ?, ?, ?)`,
    ),
    byId: db.prepare<[number], AnonymizationKey>(`SELECT ${SELECT_KEY} FROM AnonymizationKeys WHERE id = ?`),
    delete: db.prepare<[number]>('DELETE FROM AnonymizationKeys WHERE id = ?'),
    values: db.prepare<[number], AnonymizationKeyValue>(
      'SELECT * FROM AnonymizationKeyValues WHERE anonymizationKeyId = ? ORDER BY id',
    ),
    rows: db.prepare<[number, number], AnonymizationKeyRow>(keyRowsSql('?', '?')),
  };
  const lookup = (real: KeyIdentifiers): KeyLookup => ({
    *candidates(): Generator<KeyCandidate> {
      for (const { level, fields, narrower, statement } of byReal) {
        const params = [...fields.map((f) => real[f]), ...(narrower ? [real[narrower]] : [])];
        for (let before = Number.MAX_SAFE_INTEGER; ;) {
          const page = statement.all(...params, before);
          for (const row of page) yield { level, keyId: row.id, profile: profileOf(row.profile) };
          if (page.length < CANDIDATE_PAGE) break;
          before = page.at(-1)!.id;
        }
      }
    },
    load: ({ level, keyId, profile }) => ({
      level,
      key: q.byId.get(keyId)!,
      values: q.values.all(keyId),
      profile,
    }),
  });
  const findAndInsert = (
    real: KeyIdentifiers,
    decide: Parameters<AnonymizationKeyStore['recordAnonymizationKey']>[1],
  ) => {
    const { values, profile, ...key } = decide(lookup(real));
    const id = Number(q.insert.run({ ...key, profile: profile.join(',') }).lastInsertRowid);
    for (const v of values) q.insertValue.run(id, v.tagPath, v.level, v.value, v.anonymizedValue);
    return { key: q.byId.get(id)!, values: q.values.all(id) };
  };
  const record = db.transaction(findAndInsert);
  const recordAll = db.transaction((batch: Parameters<AnonymizationKeyStore['recordAnonymizationKeys']>[0]) =>
    batch.map(({ real, decide }) => findAndInsert(real, decide)),
  );

  return {
    // IMMEDIATE takes the write lock before the read, so no other writer can slip in between.
    recordAnonymizationKey: (real, decide) => record.immediate(real, decide),
    recordAnonymizationKeys: (batch) => recordAll.immediate(batch),
    findKeyByAnonymized: (anon) => {
      for (const { level, fields, statement } of byAnon) {
        const row = statement.get(...fields.map((f) => anon[f]));
        if (!row) continue;
        const { profile, ...key } = row;
        return { level, key, values: q.values.all(key.id), profile: profileOf(profile) };
      }
      return undefined;
    },
    listAnonymizationKeys: (opts) => {
      const { sql, params } = listKeysSql(opts, SQLITE_DIALECT);
      return db.prepare<unknown[], AnonymizationKey>(sql).all(...params);
    },
    queryAnonymizationKeys: (query) => {
      const { sql, params } = queryKeysSql(query, SQLITE_DIALECT);
      return db.prepare<unknown[], AnonymizationKey>(sql).all(...params);
    },
    anonymizationKey: (id) => q.byId.get(id),
    deleteAnonymizationKey: (id) => q.delete.run(id).changes === 1,
    anonymizationKeyValues: (keyId) => q.values.all(keyId),
    anonymizationKeyRows: (afterKeyId, keyCount) => q.rows.all(afterKeyId, keyCount),
  };
}

/**
 * Keys recorded before the profile column: it is added, and filled from the Deidentification Method each key
 * remembers (the option descriptions it lists).
 */
function addProfileColumn(db: Database.Database): void {
  const columns = db.prepare('PRAGMA table_info(AnonymizationKeys)').all() as Array<{ name: string }>;
  if (!columns.length || columns.some((c) => c.name === 'profile')) return;
  db.exec(`ALTER TABLE AnonymizationKeys ADD COLUMN profile TEXT NOT NULL DEFAULT ''`);
  const byDescription = new Map(OPTION_NAMES.map((o) => [OPTIONS[o].description, o]));
  const methods = db
    .prepare(
      `SELECT anonymizationKeyId AS id, anonymizedValue AS method FROM AnonymizationKeyValues
        WHERE tagPath = '(0012,0063)'`,
    )
    .all() as Array<{ id: number; method: string }>;
  const update = db.prepare('UPDATE AnonymizationKeys SET profile = ? WHERE id = ?');
  db.transaction(() => {
    for (const { id, method } of methods) {
      const names = method.split('\\').flatMap((d) => byDescription.get(d.trim()) ?? []);
      if (names.length) update.run(names.join(','), id);
    }
  })();
}

export const anonymizationKeys: StatePart<AnonymizationKeyStore> = {
  schema: SCHEMA,
  migrate: addProfileColumn,
  create: (db) => settled<AnonymizationKeyStore>(anonymizationKeyStore(db)),
};

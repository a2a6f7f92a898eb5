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
const TEXT_COLUMNS = KEY_COLUMNS.filter((c) => c !== 'id' && c !== 'created' && c !== 'imageId');
/** The columns of a key as Slicebox shows it (the profile stays inside). */
const SELECT_KEY = KEY_COLUMNS.join(', ');
const SELECT_KEY_AS_K = KEY_COLUMNS.map((c) => `k.${c}`).join(', ');

/** The option names a key's profile column holds (comma-separated; empty for keys from before it). */
const profileOf = (text: string): string[] => (text ? text.split(',') : []);

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

/** Rows of candidates read at a time. */
const CANDIDATE_PAGE = 32;

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
  const byReal = LEVELS.map(({ level, fields }, i) => {
    const narrower = LEVELS[i - 1]?.fields.at(-1);
    return {
      level,
      fields,
      narrower,
      statement: db.prepare<unknown[], { id: number; profile: string }>(
        `SELECT id, profile FROM AnonymizationKeys WHERE ${fields.map((f) => `${f} = ?`).join(' AND ')}${
          narrower ? ` AND ${narrower} != ?` : ''
        } AND id < ? ORDER BY id DESC LIMIT ${CANDIDATE_PAGE}`,
      ),
    };
  });
  const q = {
    insert: db.prepare(
      `INSERT INTO AnonymizationKeys (${[...KEY_COLUMNS.slice(1), 'profile'].join(', ')})
       VALUES (${[...KEY_COLUMNS.slice(1), 'profile'].map((c) => `@${c}`).join(', ')})`,
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
    rows: db.prepare<[number, number], AnonymizationKeyRow>(
      `SELECT ${SELECT_KEY_AS_K}, COALESCE(v.tagPath, '') AS tagPath, COALESCE(v.value, '') AS value,
              COALESCE(v.anonymizedValue, '') AS anonymizedValue
         FROM (SELECT * FROM AnonymizationKeys WHERE id > ? ORDER BY id LIMIT ?) k
         LEFT JOIN AnonymizationKeyValues v ON v.anonymizationKeyId = k.id
        ORDER BY k.id, v.id`,
    ),
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
    listAnonymizationKeys: ({ startIndex, count, orderBy, orderAscending = true, filter }) => {
      const where = filter
        ? `WHERE ${TEXT_COLUMNS.map((c) => `lower(${c}) LIKE ? ESCAPE '\\'`).join(' OR ')}`
        : '';
      const prefix = filter ? `${filter.toLowerCase().replace(/[\\%_]/g, (m) => `\\${m}`)}%` : undefined;
      const order = `${orderBy ? column(orderBy, 'orderby') : 'id'} ${orderAscending ? 'ASC' : 'DESC'}`;
      return db
        .prepare<unknown[], AnonymizationKey>(
          `SELECT ${SELECT_KEY} FROM AnonymizationKeys ${where} ORDER BY ${order}, id LIMIT ? OFFSET ?`,
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
          `SELECT ${SELECT_KEY} FROM AnonymizationKeys ${where} ORDER BY ${orderBy} LIMIT ? OFFSET ?`,
        )
        .all(...params, count, startIndex);
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

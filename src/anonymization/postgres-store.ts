/**
 * Anonymization keys and their values in the PostgreSQL state store: the same tables as the SQLite part
 * (sqlite-store.ts), whose columns, match levels and listing statements this part shares.
 *
 * A key is recorded in one transaction that first takes a transaction-scoped advisory lock on its real
 * patient (name and ID): earlier keys are only ever matched on those, so two images of one patient, in this
 * process or in another, are serialized and never get two pseudonyms, while other patients go on beside.
 *
 * `decide` reads the earlier keys synchronously and is pure: it runs on what has been read so far, and when
 * it reaches past that (a further page of candidates, a key not loaded yet) the store reads more and runs it
 * again. Loading reads ahead, more each time, so that a long walk takes a few round trips, not one per key.
 */
import { createHash } from 'node:crypto';
import type { PgDb, PgStatePart } from '../storage/postgres-state/part.js';
import { postgresSchema } from '../storage/postgres-state/part.js';
import type {
  AnonymizationKey,
  AnonymizationKeyRow,
  AnonymizationKeyStore,
  AnonymizationKeyValue,
  KeyIdentifiers,
  KeyLookup,
  NewAnonymizationKey,
} from './store.js';
import {
  ANON,
  CANDIDATE_PAGE,
  INSERT_COLUMNS,
  KEY_COLUMNS,
  LEVELS,
  SELECT_KEY,
  TEXT_COLUMNS,
  keyRowsSql,
  listKeysSql,
  profileOf,
  queryKeysSql,
  type KeyListDialect,
  anonymizationKeys as sqliteAnonymizationKeys,
} from './sqlite-store.js';

/** The SQLite part's tables, as PostgreSQL takes them. */
const SCHEMA = postgresSchema(sqliteAnonymizationKeys.schema);

const DIALECT: KeyListDialect = {
  param: (position) => `$${position}`,
  like: (c, pattern) => `${c} ILIKE ${pattern} ESCAPE '\\'`,
  // The database's collation may sort otherwise (en_US ignores case and punctuation); SQLite's BINARY
  // sorts by code point, as "C" does on UTF-8.
  sortKey: (c) => (TEXT_COLUMNS.includes(c) ? `${c} COLLATE "C"` : c),
};

/** The first key of pg_advisory_xact_lock(int, int) for a patient's keys ("Anon"); the second is the patient's. */
const PATIENT_LOCK_CLASS = 0x416e6f6e;
const patientLock = (real: KeyIdentifiers): number =>
  createHash('sha256')
    .update(JSON.stringify([real.patientName, real.patientID]))
    .digest()
    .readInt32BE(0);

/** Keys loaded at most at once when `decide` reads ahead. */
const LOAD_AHEAD_MAX = 256;

type Decide = (earlier: KeyLookup) => NewAnonymizationKey;
type Recorded = { key: AnonymizationKey; values: AnonymizationKeyValue[] };
interface CandidateRow {
  id: number;
  profile: string;
}

/** Thrown through `decide` when it reaches past what has been read; the store reads more and runs it again. */
class NotReadYet extends Error {
  constructor(readonly read: () => Promise<void>) {
    super('anonymization key lookup reached past what was read (the store reads more and decides again)');
  }
}

/** Appends a parameter; answers its placeholder. */
const bind = (params: unknown[], value: unknown): string => `$${params.push(value)}`;

/** The condition of a level's candidates by real identifiers (keys of a more specific level left out). */
function realCondition(level: number, real: KeyIdentifiers, params: unknown[]): string {
  const { fields, narrower } = LEVELS[level]!;
  return [
    ...fields.map((f) => `${f} = ${bind(params, real[f])}`),
    ...(narrower ? [`${narrower} != ${bind(params, real[narrower])}`] : []),
  ].join(' AND ');
}

async function loadKeys(db: PgDb, ids: readonly number[]): Promise<Map<number, Recorded>> {
  const keys = await db.rows<AnonymizationKey>(
    `SELECT ${SELECT_KEY} FROM AnonymizationKeys WHERE id = ANY($1::bigint[])`,
    [ids],
  );
  const values = await db.rows<AnonymizationKeyValue>(
    'SELECT * FROM AnonymizationKeyValues WHERE anonymizationKeyId = ANY($1::bigint[]) ORDER BY id',
    [ids],
  );
  return new Map(
    keys.map((key) => [key.id, { key, values: values.filter((v) => v.anonymizationKeyId === key.id) }]),
  );
}

/** Runs `decide` on the earlier keys that match `real`, reading them as far as it goes. */
async function decideOn(db: PgDb, real: KeyIdentifiers, decide: Decide): Promise<NewAnonymizationKey> {
  // The first page of every level in one round trip.
  const params: unknown[] = [];
  const limit = bind(params, CANDIDATE_PAGE);
  const first = await db.rows<CandidateRow & { lvl: number }>(
    LEVELS.map(
      (_, i) =>
        `(SELECT ${i} AS lvl, id, profile FROM AnonymizationKeys WHERE ${realCondition(i, real, params)}
           ORDER BY id DESC LIMIT ${limit})`,
    ).join(' UNION ALL '),
    params,
  );
  const pages = LEVELS.map((_, i) => {
    const rows: CandidateRow[] = first.filter((r) => r.lvl === i).sort((a, b) => b.id - a.id);
    // `before`: the lowest id read (rows of deleted keys leave `rows`, not the position).
    return { rows, done: rows.length < CANDIDATE_PAGE, size: CANDIDATE_PAGE, before: rows.at(-1)?.id ?? 0 };
  });
  const readPage = async (i: number) => {
    const page = pages[i]!;
    page.size = Math.min(page.size * 2, 1024);
    const params: unknown[] = [];
    const rows = await db.rows<CandidateRow>(
      `SELECT id, profile FROM AnonymizationKeys WHERE ${realCondition(i, real, params)}
          AND id < ${bind(params, page.before)} ORDER BY id DESC LIMIT ${bind(params, page.size)}`,
      params,
    );
    page.rows.push(...rows);
    page.before = rows.at(-1)?.id ?? page.before;
    page.done = rows.length < page.size;
  };
  const loaded = new Map<number, Recorded>();
  let ahead = 1;
  const load = async (keyId: number) => {
    // This key, and the next ones of the candidates read so far that are not loaded yet.
    const next = pages.flatMap((p) => p.rows.map((r) => r.id)).filter((id) => !loaded.has(id));
    const from = Math.max(0, next.indexOf(keyId));
    const ids = [keyId, ...next.slice(from, from + ahead).filter((id) => id !== keyId)];
    ahead = Math.min(ahead * 2, LOAD_AHEAD_MAX);
    for (const [id, key] of await loadKeys(db, ids)) loaded.set(id, key);
    // A key deleted since it was listed is no candidate any more.
    for (const page of pages) page.rows = page.rows.filter((r) => loaded.has(r.id) || !ids.includes(r.id));
  };

  for (;;) {
    const run: { missing?: NotReadYet } = {};
    const stop = (read: () => Promise<void>): never => {
      throw (run.missing = new NotReadYet(read));
    };
    const lookup: KeyLookup = {
      *candidates() {
        for (const [i, { level }] of LEVELS.entries()) {
          const page = pages[i]!;
          for (let n = 0; ; n++) {
            const row = page.rows[n];
            if (row) yield { level, keyId: row.id, profile: profileOf(row.profile) };
            else if (page.done) break;
            else stop(() => readPage(i));
          }
        }
      },
      load: ({ level, keyId, profile }) => {
        const found = loaded.get(keyId);
        return found ? { level, ...found, profile } : stop(() => load(keyId));
      },
    };
    let decided: NewAnonymizationKey | undefined;
    try {
      decided = decide(lookup);
    } catch (err) {
      if (!(err instanceof NotReadYet) || err !== run.missing) throw err;
    }
    // Also when `decide` caught the stop itself: what it decided was not from every key it asked for.
    if (!run.missing) return decided!;
    await run.missing.read();
  }
}

async function insertKey(db: PgDb, decided: NewAnonymizationKey): Promise<Recorded> {
  const { values, profile, ...key } = decided;
  const params = [...KEY_COLUMNS.slice(1).map((c) => key[c as keyof typeof key]), profile.join(',')];
  const inserted = (await db.row<AnonymizationKey>(
    `INSERT INTO AnonymizationKeys (${INSERT_COLUMNS.join(', ')})
       VALUES (${params.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING ${SELECT_KEY}`,
    params,
  ))!;
  const rows = values.length
    ? await db.rows<AnonymizationKeyValue>(
        `INSERT INTO AnonymizationKeyValues (anonymizationKeyId, tagPath, level, value, anonymizedValue)
         SELECT $1::bigint, v.* FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS v
         RETURNING *`,
        [
          inserted.id,
          values.map((v) => v.tagPath),
          values.map((v) => v.level),
          values.map((v) => v.value),
          values.map((v) => v.anonymizedValue),
        ],
      )
    : [];
  return { key: inserted, values: rows.sort((a, b) => a.id - b.id) };
}

/** In one transaction: locks the batch's patients (in one order, so two batches cannot deadlock), then records. */
function recordAll(
  db: PgDb,
  batch: ReadonlyArray<{ real: KeyIdentifiers; decide: Decide }>,
): Promise<Recorded[]> {
  return db.atomic(async (db) => {
    const locks = [...new Set(batch.map(({ real }) => patientLock(real)))].sort((a, b) => a - b);
    await db.run('SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::int[]) AS k', [
      PATIENT_LOCK_CLASS,
      locks,
    ]);
    const recorded: Recorded[] = [];
    for (const { real, decide } of batch)
      recorded.push(await insertKey(db, await decideOn(db, real, decide)));
    return recorded;
  });
}

export const anonymizationKeys: PgStatePart<AnonymizationKeyStore> = {
  schema: SCHEMA,
  create: (db) => ({
    recordAnonymizationKey: async (real, decide) => (await recordAll(db, [{ real, decide }]))[0]!,
    recordAnonymizationKeys: (batch) => recordAll(db, batch),
    findKeyByAnonymized: async (anon) => {
      // The most specific level that matches, newest first within it.
      const params: unknown[] = [];
      const row = await db.row<AnonymizationKey & { lvl: number; profile: string }>(
        `SELECT * FROM (${LEVELS.map(
          ({ fields }, i) =>
            `(SELECT ${i} AS lvl, ${SELECT_KEY}, profile FROM AnonymizationKeys
               WHERE ${fields.map((f) => `${ANON[f]} = ${bind(params, anon[f])}`).join(' AND ')}
               ORDER BY id DESC LIMIT 1)`,
        ).join(' UNION ALL ')}) m ORDER BY lvl LIMIT 1`,
        params,
      );
      if (!row) return undefined;
      const { lvl, profile, ...key } = row;
      const values = await db.rows<AnonymizationKeyValue>(
        'SELECT * FROM AnonymizationKeyValues WHERE anonymizationKeyId = $1 ORDER BY id',
        [key.id],
      );
      return { level: LEVELS[lvl]!.level, key, values, profile: profileOf(profile) };
    },
    listAnonymizationKeys: async (opts) => {
      const { sql, params } = listKeysSql(opts, DIALECT);
      return await db.rows<AnonymizationKey>(sql, params);
    },
    queryAnonymizationKeys: async (query) => {
      const { sql, params } = queryKeysSql(query, DIALECT);
      return await db.rows<AnonymizationKey>(sql, params);
    },
    anonymizationKey: (id) =>
      db.row<AnonymizationKey>(`SELECT ${SELECT_KEY} FROM AnonymizationKeys WHERE id = $1`, [id]),
    deleteAnonymizationKey: async (id) =>
      (await db.run('DELETE FROM AnonymizationKeys WHERE id = $1', [id])) === 1,
    anonymizationKeyValues: (keyId) =>
      db.rows<AnonymizationKeyValue>(
        'SELECT * FROM AnonymizationKeyValues WHERE anonymizationKeyId = $1 ORDER BY id',
        [keyId],
      ),
    anonymizationKeyRows: (afterKeyId, keyCount) =>
      db.rows<AnonymizationKeyRow>(keyRowsSql('$1', '$2'), [afterKeyId, keyCount]),
  }),
};

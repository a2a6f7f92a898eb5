/**
 * Free-text search in the SQLite index: one trigram FTS5 table per level (patients, studies, series) over
 * the columns Slicebox's `filter` searches, kept in step with its table by triggers. A `filter` of three or
 * more characters first narrows the rows through it (an index lookup instead of a LIKE over every row and
 * column); the LIKE conditions still decide, so results are exactly those of the plain scan. Images are not
 * searched this way: a million UIDs would cost ingest more than it saves, and images are listed per series.
 */
import type Database from 'better-sqlite3';
import { PATIENTS, quote, SERIES, STUDIES, type TableSpec } from './sqlite-index-tables.js';

export const TEXT_SEARCHED = [PATIENTS, STUDIES, SERIES] as const;

/** The FTS5 table searching `spec`'s rows. */
export const textTable = (spec: TableSpec) => `${spec.name}Text`;

/** Shorter texts have no trigram to look up: they are matched by the LIKE scan alone. */
export const MIN_TEXT_LENGTH = 3;

/**
 * Whether a `filter` text can be looked up in the trigram tables: long enough, and free of NUL, which ends an
 * FTS5 query string early.
 */
export const searchable = (text: string) => [...text].length >= MIN_TEXT_LENGTH && !text.includes('\u0000');

/** The FTS5 query matching `text` as a substring of any column: one phrase, every character literal. */
export const phrase = (text: string) => `"${text.replace(/"/g, '""')}"`;

/** `id IN (…)`: the rows of `spec` some searched column of which contains the phrase bound to `?`. */
export const textMatch = (spec: TableSpec) =>
  `SELECT "rowid" FROM ${quote(textTable(spec))} WHERE ${quote(textTable(spec))} MATCH ?`;

function schema(spec: TableSpec): string {
  const table = quote(spec.name);
  const text = quote(textTable(spec));
  const columns = spec.attributes.map(([c]) => c);
  const names = columns.map(quote).join(', ');
  const values = (row: 'new' | 'old') => columns.map((c) => `${row}.${quote(c)}`).join(', ');
  const trigger = (suffix: string) => quote(`${spec.name}_text_${suffix}`);
  return `
CREATE VIRTUAL TABLE IF NOT EXISTS ${text} USING fts5(${names}, content=${table}, content_rowid='id', tokenize='trigram');
CREATE TRIGGER IF NOT EXISTS ${trigger('insert')} AFTER INSERT ON ${table} BEGIN
  INSERT INTO ${text} ("rowid", ${names}) VALUES (new."id", ${values('new')});
END;
CREATE TRIGGER IF NOT EXISTS ${trigger('delete')} AFTER DELETE ON ${table} BEGIN
  INSERT INTO ${text} (${text}, "rowid", ${names}) VALUES ('delete', old."id", ${values('old')});
END;
CREATE TRIGGER IF NOT EXISTS ${trigger('update')} AFTER UPDATE OF ${names} ON ${table} BEGIN
  INSERT INTO ${text} (${text}, "rowid", ${names}) VALUES ('delete', old."id", ${values('old')});
  INSERT INTO ${text} ("rowid", ${names}) VALUES (new."id", ${values('new')});
END;`;
}

/**
 * Creates the search tables and their triggers; a database indexed before them gets its rows added once
 * (about a second per 100,000 series). Answers the tables built from existing rows.
 */
export function migrateTextSearch(db: Database.Database): number {
  const exists = db
    .prepare<[string], 1>("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
    .pluck();
  let built = 0;
  db.transaction(() => {
    for (const spec of TEXT_SEARCHED) {
      const fresh = !exists.get(textTable(spec));
      db.exec(schema(spec));
      if (fresh) {
        db.exec(`INSERT INTO ${quote(textTable(spec))} (${quote(textTable(spec))}) VALUES ('rebuild')`);
        built++;
      }
    }
  })();
  return built;
}

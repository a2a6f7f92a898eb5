import type Database from 'better-sqlite3';

/**
 * A part of the state store: its tables (CREATE … IF NOT EXISTS) and its methods on the shared database.
 * Each managed resource adds one part in its own file and one line in PARTS below.
 */
export interface StatePart<T> {
  schema: string;
  /** Brings tables of an older file up to date (it runs before `schema`, and checks what it finds). */
  migrate?(db: Database.Database): void;
  create(db: Database.Database): T;
}

/**
 * The state store in SQLite (`<data dir>/state.sqlite`): what users manage at run time, kept apart from the
 * metadata index, which can be rebuilt from the stored files while this cannot. Each managed capability
 * brings its part (its tables and methods, in its own folder's `sqlite-store.ts`); they share one database,
 * so one transaction can span them. Every value is a bound parameter.
 */
import Database from 'better-sqlite3';
import type { StateStore, StateTransaction } from './state-store.js';
import { gated, StateGate } from './sqlite-transactions.js';
import { combineParts, STATE_PARTS } from './state-parts.js';

/**
 * Bumped with each change to the schema; migrations key on `PRAGMA user_version`. 2: forwarding
 * transactions handed to a box (DELIVERING, `boxTransactionId`). 3: anonymization keys keep the options
 * they were made with (`profile`). 4: managed SCPs say whether they offer Q/R (`Scps.queryRetrieve`).
 */
const SCHEMA_VERSION = 4;

/** Every part's SQLite implementation (state-parts.ts). */
const PARTS = Object.fromEntries(Object.entries(STATE_PARTS).map(([name, p]) => [name, p.sqlite]));

export function openSqliteState(path: string): StateStore {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // What users configure is answered 201 only once it would survive a power cut; writes here are rare.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    db.close();
    throw new Error(`${path} has schema version ${version}; this Sluice knows up to ${SCHEMA_VERSION}`);
  }
  const parts = Object.values(PARTS);
  if (version < SCHEMA_VERSION) for (const part of parts) part.migrate?.(db);
  for (const part of parts) db.exec(part.schema);
  db.pragma(`user_version = ${SCHEMA_VERSION}`);
  const methods = combineParts(
    Object.entries(PARTS).map(([name, part]) => [name, part.create(db)]),
    {},
  ) as StateTransaction;
  const gate = new StateGate(db);
  return {
    ...gated(methods, gate),
    transaction: (work) => gate.transaction(methods, work),
    close: async () => {
      await gate.run(() => Promise.resolve());
      db.close();
    },
    problem: () => undefined,
  };
}

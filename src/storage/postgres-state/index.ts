/**
 * The state store in PostgreSQL (`SLUICE_STATE=postgres://user:password@host:port/database`): the same port
 * as the SQLite store (storage/state-store.ts), for sites whose several processes share one state. Each
 * managed capability brings its part (its tables and methods, in its own folder's `postgres-store.ts`); they
 * share one database, so one transaction can span them. Calls run in parallel on the pool's connections;
 * a transaction holds one connection from BEGIN to COMMIT, and row locks (FOR UPDATE, SKIP LOCKED where
 * several processes take work) keep the others apart.
 *
 * The schema is created and upgraded at open, versioned in `SluiceSchema` under an advisory lock (processes
 * starting together migrate once); a database of a newer schema than this code is refused.
 */
import type { StateStore, StateTransaction } from '../state-store.js';
import { combineParts, STATE_PARTS } from '../state-parts.js';
import { camelNames, named, openPostgres } from './db.js';
import type { PgDb } from './part.js';
import { parsePostgresUrl } from './location.js';
import { boundToTransaction } from '../transaction-bound.js';

/** Bumped with each change to the schema (1: the first, the SQLite store's schema version 4). */
export const SCHEMA_VERSION = 1;

/** Every part's PostgreSQL implementation (storage/state-parts.ts). */
const PARTS = Object.fromEntries(Object.entries(STATE_PARTS).map(([name, p]) => [name, p.postgres]));

/** Any 64-bit number, the same in every process: the advisory lock that serialises migrations. */
const MIGRATION_LOCK = 0x5_1ce_57a7e;

export async function openPostgresState(url: string): Promise<StateStore> {
  const location = parsePostgresUrl(url);
  const names = Object.fromEntries(
    Object.entries(PARTS).map(([name, part]) => [name, camelNames(part.schema)]),
  );
  const connection = await openPostgres(location, (c) => migrate(c.transaction));
  const stores = (db: PgDb) =>
    combineParts(
      Object.entries(PARTS).map(([name, part]) => [name, part.create(named(db, names[name]))]),
      {},
    ) as StateTransaction;
  return {
    ...stores(connection.db),
    transaction: (work) =>
      connection.transaction(async (db) => {
        const context = { open: true };
        try {
          return await work(boundToTransaction(stores(db), context));
        } finally {
          context.open = false;
        }
      }),
    problem: connection.problem,
    close: connection.close,
  };
}

async function migrate(transaction: (work: (db: PgDb) => Promise<void>) => Promise<void>): Promise<void> {
  await transaction(async (db) => {
    await db.run('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await db.run('CREATE TABLE IF NOT EXISTS SluiceSchema (name TEXT PRIMARY KEY, version INTEGER NOT NULL)');
    const found = await db.row<{ version: number }>("SELECT version FROM SluiceSchema WHERE name = 'state'");
    const version = found?.version ?? 0;
    if (version > SCHEMA_VERSION)
      throw new Error(
        `The PostgreSQL state store has schema version ${version}, newer than this Sluice knows (${SCHEMA_VERSION}): upgrade Sluice, or point SLUICE_STATE at another database`,
      );
    for (const part of Object.values(PARTS)) await db.run(part.schema);
    await db.run(
      `INSERT INTO SluiceSchema (name, version) VALUES ('state', $1)
         ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version`,
      [SCHEMA_VERSION],
    );
  });
}

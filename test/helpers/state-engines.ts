/**
 * The state store a test runs on: SQLite in the embedded project; in the projects with PostgreSQL
 * (TEST_STATE=postgres, see vitest.config.ts) the suite's server (test/postgres-setup.ts), a fresh database
 * per store. `stateEngine()` opens and reopens stores for the state store's own tests.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { engineDatabase } from './index-engines.js';
import type { StateStore } from '../../src/storage/state-store.js';
import { openSqliteState } from '../../src/storage/sqlite-state.js';
import { openPostgresState } from '../../src/storage/postgres-state/index.js';

export const onPostgres = (): boolean => process.env.TEST_STATE === 'postgres';

function server(): string {
  const url = process.env.TEST_POSTGRES_URL;
  if (!url) throw new Error('TEST_STATE=postgres without TEST_POSTGRES_URL: run a project with PostgreSQL');
  return url;
}

export interface StateEngine {
  name: 'sqlite' | 'postgres';
  /** A new, empty state store (a file in a fresh folder, or a fresh database). */
  open(): Promise<StateStore>;
  /** The store at the same place as `store` was opened, opened again (what a restart finds). */
  reopen(store: StateStore): Promise<StateStore>;
  /** Where `store` was opened: its file, or its database's URL. */
  placeOf(store: StateStore): string;
}

const places = new WeakMap<StateStore, string>();

const placeOf = (store: StateStore): string => places.get(store)!;

const sqlite: StateEngine = {
  name: 'sqlite',
  placeOf,
  open: async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'sluice-state-')), 'state.sqlite');
    const store = openSqliteState(path);
    places.set(store, path);
    return store;
  },
  reopen: async (store) => {
    const again = openSqliteState(places.get(store)!);
    places.set(again, places.get(store)!);
    return again;
  },
};

const postgres: StateEngine = {
  name: 'postgres',
  placeOf,
  open: async () => {
    const url = `${server()}/s_${randomBytes(6).toString('hex')}`;
    const store = await openPostgresState(url);
    places.set(store, url);
    return store;
  },
  reopen: async (store) => {
    const again = await openPostgresState(places.get(store)!);
    places.set(again, places.get(store)!);
    return again;
  },
};

/** The engine this project runs the state store tests on: PostgreSQL where it runs, else SQLite. */
export function stateEngine(): StateEngine {
  return onPostgres() ? postgres : sqlite;
}

/** The state store of this project for app tests: `<dir>/state.sqlite`, or a database named after `dir`. */
export async function openTestState(dir: string): Promise<StateStore> {
  const url = testStateUrl(dir);
  return url ? openPostgresState(url) : openSqliteState(join(dir, 'state.sqlite'));
}

/**
 * `SLUICE_STATE` for an engine on `dataDir` where PostgreSQL runs: a database named after the data directory
 * (an engine started again on the same directory finds its state; the engine creates it); else undefined.
 */
export function testStateUrl(dataDir: string): string | undefined {
  if (!onPostgres()) return undefined;
  return `${server()}/${engineDatabase(dataDir)}`;
}

/** `SLUICE_STATE` for an engine process on `dataDir`, where PostgreSQL runs. */
export function testStateVariable(dataDir: string): Record<string, string> {
  const url = testStateUrl(dataDir);
  return url ? { SLUICE_STATE: url } : {};
}

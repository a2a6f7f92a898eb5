/**
 * The metadata index engines a test file runs its index tests on: SQLite in the embedded project; in the
 * ClickHouse project (TEST_INDEX=clickhouse, see vitest.config.ts) ClickHouse 18.16 (the suite's server,
 * test/clickhouse-setup.ts) and the current engine embedded by npm `chdb`. Each `open()` answers a new,
 * empty index (a fresh database on ClickHouse).
 */
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { MetadataIndex } from '../../src/storage/metadata-index.js';
import { openClickHouseIndex, type ClickHouseIndex } from '../../src/storage/clickhouse-index/index.js';
import { openSqliteIndex } from '../../src/storage/sqlite-index.js';

export interface IndexEngine {
  name: 'sqlite' | 'sqlite, reader threads' | 'clickhouse-18.16' | 'chdb';
  open(): Promise<MetadataIndex>;
}

export const onClickHouse = (): boolean => process.env.TEST_INDEX === 'clickhouse';

export const testDatabase = () => `t_${randomBytes(6).toString('hex')}`;

/**
 * The database of an engine on `dataDir` (its index in ClickHouse, its state in PostgreSQL): named after the
 * whole path, so that an engine started again on the same directory finds it and no two directories share one.
 */
export const engineDatabase = (dataDir: string) =>
  `e_${createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 24)}`;

let chdbConnection: Promise<unknown> | undefined;
async function chdb(): Promise<unknown> {
  chdbConnection ??= import('chdb/connection').then(({ createChdbConnection }) =>
    createChdbConnection({ path: mkdtempSync(join(tmpdir(), 'sluice-chdb-')) }),
  );
  return chdbConnection;
}

export interface ClickHouseEngine {
  name: 'clickhouse-18.16' | 'chdb';
  /** The index on `database` (created when missing); the same database again reopens it. */
  open(database: string): Promise<ClickHouseIndex>;
  /** Runs SQL on the engine directly (what a test checks or breaks behind the index's back). */
  rows<T = Record<string, unknown>>(sql: string): Promise<T[]>;
}

function directRows(client: ClickHouseClient) {
  return async <T>(sql: string): Promise<T[]> => {
    if (!/^\s*(SELECT|WITH)\b/i.test(sql)) {
      await client.command({ query: sql });
      return [];
    }
    return (await (await client.query({ query: sql, format: 'JSONEachRow' })).json()) as T[];
  };
}

/** ClickHouse 18.16 (the suite's server) and chdb, in the ClickHouse project; none elsewhere. */
export function clickHouseEngines(): ClickHouseEngine[] {
  if (!onClickHouse()) return [];
  const server = process.env.TEST_CLICKHOUSE_URL;
  if (!server)
    throw new Error('TEST_INDEX=clickhouse without TEST_CLICKHOUSE_URL: run the clickhouse project');
  return [
    {
      name: 'clickhouse-18.16',
      open: (database) => openClickHouseIndex({ url: `${server}/${database}` }),
      rows: directRows(createClient({ url: server.replace('default@', '') })),
    },
    {
      name: 'chdb',
      open: async (database) =>
        openClickHouseIndex({ url: `http://default@chdb/${database}`, connection: (await chdb()) as never }),
      rows: async <T>(sql: string) =>
        directRows(createClient({ connection: (await chdb()) as never }))<T>(sql),
    },
  ];
}

export function indexEngines(): IndexEngine[] {
  if (!onClickHouse())
    return [
      { name: 'sqlite', open: async () => openSqliteIndex(':memory:') },
      // A file, with listings and queries answered by reader threads on their own connections.
      {
        name: 'sqlite, reader threads',
        open: async () => {
          const dir = mkdtempSync(join(tmpdir(), 'sluice-index-readers-'));
          const index = openSqliteIndex(join(dir, 'index.sqlite'), { readers: 2 });
          return {
            ...index,
            close: async () => {
              await index.close();
              rmSync(dir, { recursive: true, force: true });
            },
          };
        },
      },
    ];
  return clickHouseEngines().map((engine) => ({
    name: engine.name,
    open: () => engine.open(testDatabase()),
  }));
}

/**
 * `SLUICE_INDEX` for an engine on `dataDir` in the ClickHouse project: a database named after the data
 * directory (an engine started again on the same directory finds its index); else undefined (SQLite).
 */
export function testIndexUrl(dataDir: string): string | undefined {
  if (!onClickHouse()) return undefined;
  const server = process.env.TEST_CLICKHOUSE_URL;
  if (!server)
    throw new Error('TEST_INDEX=clickhouse without TEST_CLICKHOUSE_URL: run the clickhouse project');
  return `${server}/${engineDatabase(dataDir)}`;
}

/** `SLUICE_INDEX` for an engine process on `dataDir`, in the ClickHouse project. */
export function testIndexVariable(dataDir: string): Record<string, string> {
  const url = testIndexUrl(dataDir);
  return url ? { SLUICE_INDEX: url } : {};
}

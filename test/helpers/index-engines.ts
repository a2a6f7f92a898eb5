/**
 * The metadata index engines a test file runs its index tests on: SQLite in the embedded project; in the
 * ClickHouse project (TEST_INDEX=clickhouse, see vitest.config.ts) ClickHouse 18.16 (the suite's server,
 * test/clickhouse-setup.ts) and the current engine embedded by npm `chdb`. Each `open()` answers a new,
 * empty index (a fresh database on ClickHouse).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MetadataIndex } from '../../src/storage/metadata-index.js';
import { openClickHouseIndex } from '../../src/storage/clickhouse-index/index.js';
import { openSqliteIndex } from '../../src/storage/sqlite-index.js';

export interface IndexEngine {
  name: 'sqlite' | 'clickhouse-18.16' | 'chdb';
  open(): Promise<MetadataIndex>;
}

export const onClickHouse = (): boolean => process.env.TEST_INDEX === 'clickhouse';

const database = () => `t_${randomBytes(6).toString('hex')}`;

let chdbConnection: Promise<unknown> | undefined;
async function chdb(): Promise<unknown> {
  chdbConnection ??= import('chdb/connection').then(({ createChdbConnection }) =>
    createChdbConnection({ path: mkdtempSync(join(tmpdir(), 'sluice-chdb-')) }),
  );
  return chdbConnection;
}

export function indexEngines(): IndexEngine[] {
  if (!onClickHouse()) return [{ name: 'sqlite', open: async () => openSqliteIndex(':memory:') }];
  const server = process.env.TEST_CLICKHOUSE_URL;
  if (!server)
    throw new Error('TEST_INDEX=clickhouse without TEST_CLICKHOUSE_URL: run the clickhouse project');
  return [
    { name: 'clickhouse-18.16', open: () => openClickHouseIndex({ url: `${server}/${database()}` }) },
    {
      name: 'chdb',
      open: async () =>
        openClickHouseIndex({
          url: `http://default@chdb/${database()}`,
          connection: (await chdb()) as never,
        }),
    },
  ];
}

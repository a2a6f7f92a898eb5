/**
 * Set-up of each test file of the ClickHouse project: TEST_INDEX=clickhouse and the suite's server, which
 * test/helpers/index-engines.ts reads to run the index tests on ClickHouse 18.16 and on chdb.
 */
import { inject } from 'vitest';

Object.assign(process.env, { TEST_INDEX: 'clickhouse', TEST_CLICKHOUSE_URL: inject('clickhouseUrl') });

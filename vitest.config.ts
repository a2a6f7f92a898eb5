import { defineConfig } from 'vitest/config';

/**
 * The test files that read or write stored files run twice: on the embedded file store, and on S3 (MinIO,
 * started by test/s3-setup.ts) with TEST_BLOBS=s3, which the engine helpers read (test/helpers/blobs.ts).
 * Files named `*.s3.test.ts` need MinIO and run in the S3 project only.
 */
const ON_S3 = [
  'test/scp.integration.test.ts',
  'test/images.api.test.ts',
  'test/dicomweb.routes.test.ts',
  'test/qr.dcmtk.integration.test.ts',
  'test/crash.integration.test.ts',
  'src/**/*.s3.test.ts',
  'test/**/*.s3.test.ts',
];

/**
 * The metadata index tests run their same bodies on SQLite (embedded project) and, in the ClickHouse project
 * (TEST_INDEX=clickhouse), on ClickHouse 18.16 (started by test/clickhouse-setup.ts) and on chdb (current
 * ClickHouse, embedded): test/helpers/index-engines.ts. The API and integration tests listed after them run
 * their engine on the ClickHouse server. Files named `*.clickhouse.test.ts` need ClickHouse and run there only.
 */
const ON_CLICKHOUSE = [
  'src/storage/sqlite-index.test.ts',
  'src/storage/sqlite-index-find.test.ts',
  'src/storage/clickhouse-index/*.test.ts',
  '**/*.clickhouse.test.ts',
  'test/images.api.test.ts',
  'test/scp.integration.test.ts',
  'test/series-types.routes.test.ts',
  'test/qr.dcmtk.integration.test.ts',
  'test/dicomweb.routes.test.ts',
  'test/anonymization.routes.test.ts',
  'test/boxes.routes.test.ts',
  'test/crash.integration.test.ts',
  'test/integrity.integration.test.ts',
  'test/ops.api.test.ts',
  'test/hostile.integration.test.ts',
  'test/tag-filter.integration.test.ts',
  'test/series-types.integration.test.ts',
  // Also passing on ClickHouse (2026-12-06), left out for the suite's time (~50 s more): anonymize, image
  // tools, render, forwarding, boxes and key-race tests.
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'embedded',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/*.s3.test.ts', '**/*.clickhouse.test.ts', '**/node_modules/**'],
          setupFiles: ['test/setup.ts'],
          globalSetup: ['test/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 's3',
          include: ON_S3,
          setupFiles: ['test/setup.ts', 'test/s3-env.ts'],
          globalSetup: ['test/global-setup.ts', 'test/s3-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'clickhouse',
          include: ON_CLICKHOUSE,
          setupFiles: ['test/setup.ts', 'test/clickhouse-env.ts'],
          globalSetup: ['test/global-setup.ts', 'test/clickhouse-setup.ts'],
        },
      },
    ],
  },
});

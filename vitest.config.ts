import { defineConfig } from 'vitest/config';

/**
 * The test files that run twice: on the embedded defaults (files, SQLite index, SQLite state), and in the
 * scale project on S3 (MinIO, test/s3-setup.ts), ClickHouse (test/clickhouse-setup.ts) and PostgreSQL
 * (test/postgres-setup.ts), with TEST_BLOBS=s3, TEST_INDEX=clickhouse and TEST_STATE=postgres, which the
 * helpers read (test/helpers/blobs.ts, index-engines.ts, state-engines.ts), beside a Kafka broker
 * (test/kafka-setup.ts). The index tests run their bodies there on ClickHouse 18.16 and on chdb (current
 * ClickHouse, embedded). Files named `*.s3.test.ts`, `*.clickhouse.test.ts`, `*.postgres.test.ts` and
 * `*.kafka.test.ts` need those services and run in the scale project only.
 */
const ON_SCALE = [
  'src/**/*.s3.test.ts',
  'test/**/*.s3.test.ts',
  '**/*.clickhouse.test.ts',
  '**/*.postgres.test.ts',
  '**/*.kafka.test.ts',
  // the stores themselves
  'src/storage/sqlite-index.test.ts',
  'src/storage/sqlite-index-find.test.ts',
  'src/storage/clickhouse-index/*.test.ts',
  'src/storage/sqlite-state.test.ts',
  'src/*/sqlite-store.test.ts',
  'src/*/store.test.ts',
  'src/forwarding/scu-store.test.ts',
  // the API and the engine end to end
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
  'test/users.api.test.ts',
  'test/users.routes.test.ts',
  'test/log.routes.test.ts',
  'test/filtering.routes.test.ts',
  'test/image-tools.api.test.ts',
  'test/render.api.test.ts',
  'test/route-walk.test.ts',
  'test/managed-sources.integration.test.ts',
  'test/watch.integration.test.ts',
  'test/forwarding.integration.test.ts',
  'test/forward-restart.integration.test.ts',
  'test/boxes.integration.test.ts',
  'test/box-push-answers.integration.test.ts',
  'test/anonymize.integration.test.ts',
  'test/key-race.integration.test.ts',
  'test/scus.integration.test.ts',
  'test/box-forwarding.integration.test.ts',
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
          exclude: [
            '**/*.s3.test.ts',
            '**/*.clickhouse.test.ts',
            '**/*.postgres.test.ts',
            '**/*.kafka.test.ts',
            '**/node_modules/**',
          ],
          setupFiles: ['test/setup.ts'],
          globalSetup: ['test/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'scale',
          include: ON_SCALE,
          setupFiles: ['test/setup.ts', 'test/s3-env.ts', 'test/clickhouse-env.ts', 'test/postgres-env.ts'],
          globalSetup: [
            'test/global-setup.ts',
            'test/s3-setup.ts',
            'test/clickhouse-setup.ts',
            'test/postgres-setup.ts',
            'test/kafka-setup.ts',
          ],
        },
      },
    ],
  },
});

/**
 * The services of Sluice's scale configuration, started on loopback for a benchmark by the test suite's own
 * helpers: MinIO (S3, `SLUICE_BLOBS`; test/helpers/minio.ts), ClickHouse 18.16 (`SLUICE_INDEX`;
 * test/helpers/clickhouse.ts) and PostgreSQL (`SLUICE_STATE`; test/helpers/postgres.ts). Every engine run gets
 * its own place in each: a key prefix, a ClickHouse database, a PostgreSQL database (created by Sluice).
 *
 * They share the machine's cores with Sluice. PostgreSQL runs as the tests run it: synchronous commits but
 * fsync off (test/helpers/postgres.ts); ClickHouse with its defaults (parts are not fsynced); MinIO with its
 * defaults (objects are synced).
 */
import { startClickHouse, type ClickHouseServer } from '../../test/helpers/clickhouse.js';
import { startMinio, type MinioServer } from '../../test/helpers/minio.js';
import { startPostgres, type PostgresServer } from '../../test/helpers/postgres.js';
import { onInterrupt } from './procs.js';

export interface ServiceChoice {
  /** MinIO, for `SLUICE_BLOBS`. */
  s3?: boolean;
  /** ClickHouse, for `SLUICE_INDEX`. */
  clickhouse?: boolean;
  /** PostgreSQL, for `SLUICE_STATE`. */
  postgres?: boolean;
}

/** Sluice on all three: the scale configuration. */
export const SCALE: Required<ServiceChoice> = { s3: true, clickhouse: true, postgres: true };

export interface Services {
  minio?: MinioServer;
  clickhouse?: ClickHouseServer;
  postgres?: PostgresServer;
  /**
   * The settings (SLUICE_* and AWS_*) of an engine whose data is `name` (a key prefix and databases of its
   * own) in the services of `choice` (default: every service started).
   */
  settings(name: string, choice?: ServiceChoice): Record<string, string>;
  /** One line per service: what runs where. */
  describe(): string;
  /** Stops every service and removes its data. */
  stop(): Promise<void>;
}

/** A database name both ClickHouse and PostgreSQL take unquoted: lower case letters, digits and _. */
export const databaseName = (name: string) =>
  `b_${name.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);

const value = <T>(r: PromiseSettledResult<T>) => (r.status === 'fulfilled' ? r.value : undefined);

const missing = (what: string): never => {
  throw new Error(`${what} was not started for this benchmark`);
};

/**
 * Starts the services of `choice` at once; `dir` holds MinIO's data (default: a temp dir of its own; the others
 * always make their own).
 */
export async function startServices(choice: ServiceChoice, dir?: string): Promise<Services> {
  const results = await Promise.allSettled([
    choice.s3 ? startMinio({ bucket: 'bench', dir }) : undefined,
    choice.clickhouse ? startClickHouse() : undefined,
    choice.postgres ? startPostgres() : undefined,
  ]);
  const [minio, clickhouse, postgres] = [value(results[0]), value(results[1]), value(results[2])];
  // Once: an interruption and the benchmark's own end may both ask.
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= Promise.allSettled([minio?.cleanup(), clickhouse?.cleanup(), postgres?.cleanup()]).then(
      unregister,
    ));
  const unregister = onInterrupt(stop);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  const all: ServiceChoice = { s3: !!minio, clickhouse: !!clickhouse, postgres: !!postgres };
  return {
    minio,
    clickhouse,
    postgres,
    settings(name, which = all) {
      const s3 = which.s3 ? (minio ?? missing('MinIO')) : undefined;
      const database = databaseName(name);
      return {
        ...(s3 ? { ...s3.env, SLUICE_BLOBS: `s3://${s3.bucket}/${name}` } : {}),
        ...(which.clickhouse
          ? { SLUICE_INDEX: `${(clickhouse ?? missing('ClickHouse')).url}/${database}` }
          : {}),
        ...(which.postgres ? { SLUICE_STATE: `${(postgres ?? missing('PostgreSQL')).url}/${database}` } : {}),
      };
    },
    describe: () =>
      [
        minio && `MinIO at ${minio.endpoint}, bucket ${minio.bucket}`,
        clickhouse && `ClickHouse 18.16 at ${clickhouse.url}`,
        postgres && `PostgreSQL at ${postgres.url} (fsync off, as in the tests)`,
      ]
        .filter(Boolean)
        .join('; '),
    stop,
  };
}

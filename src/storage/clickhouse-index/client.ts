/**
 * The ClickHouse index's connection: `SLUICE_INDEX=http://user:password@host:8123/database` (ClickHouse's
 * HTTP interface), or an injected `@clickhouse/client` connection (the tests' embedded chdb engine). Queries
 * answer rows as objects; a failure to reach the server becomes a StorageUnavailableError (503, C-STORE
 * 0xA700) naming ClickHouse and the endpoint, never the password.
 */
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { StorageUnavailableError } from '../../errors.js';
import type { ClickHouseLocation } from './location.js';

/** Settings every query carries; all are known to ClickHouse 18.16 and to current releases. */
const SETTINGS = {
  output_format_json_quote_64bit_integers: 0,
  // PREWHERE before FINAL would drop a tombstone before it hides the row it replaces.
  optimize_move_to_prewhere: 0,
} as const;

export interface ClickHouseDb {
  readonly endpoint: string;
  rows<T>(sql: string): Promise<T[]>;
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

const unreachable = (err: unknown): boolean => {
  const code = (err as { code?: string })?.code;
  return (
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENOTFOUND' ||
    code === 'ETIMEDOUT' ||
    code === 'EPIPE' ||
    /socket hang up|Timeout error/i.test(String((err as Error)?.message))
  );
};

export function connectClickHouse(
  location: ClickHouseLocation,
  connection?: Parameters<typeof createClient>[0] extends infer C
    ? C extends { connection?: infer X }
      ? X
      : never
    : never,
): ClickHouseDb {
  const client: ClickHouseClient = createClient({
    url: location.endpoint,
    username: location.username,
    password: location.password,
    clickhouse_settings: SETTINGS as never,
    request_timeout: 30_000,
    ...(connection ? { connection } : {}),
  });
  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      if (unreachable(err))
        throw new StorageUnavailableError(`ClickHouse index at ${location.endpoint} is unreachable`, {
          cause: err,
        });
      throw err;
    }
  };
  return {
    endpoint: location.endpoint,
    rows: <T>(sql: string) =>
      guard(async () => {
        const result = await client.query({ query: sql, format: 'JSONEachRow' });
        return (await result.json()) as T[];
      }),
    exec: (sql: string) => guard(async () => void (await client.command({ query: sql }))),
    // An injected connection belongs to whoever made it (one chdb engine serves many indexes).
    close: () => (connection ? Promise.resolve() : client.close()),
  };
}

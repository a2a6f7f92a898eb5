/**
 * The PostgreSQL state store's connection: a `pg` pool, and the small query surface its parts use (`PgDb`).
 * Every value is a bound parameter ($1, $2…); no SQL is built from a caller's value.
 *
 * Tables and columns are written unquoted in camelCase, as in the SQLite parts, so PostgreSQL folds them to
 * lower case; each part's rows come back with their camelCase keys again through the dictionary of that
 * part's schema (`camelNames`, `named`). 64-bit integers and numerics are read as numbers (ids and epoch milliseconds stay far
 * below 2^53). A server that cannot be reached is a StorageUnavailableError (503; a C-STORE answers 0xA700)
 * naming PostgreSQL and the endpoint, never the password.
 */
import pg from 'pg';
import { StorageUnavailableError } from '../../errors.js';
import type { PostgresLocation } from './location.js';
import type { PgDb } from './part.js';

/**
 * camelCase identifiers of SQL text, keyed by the lower-case form PostgreSQL answers. Two spellings of one
 * name would make one of them come back wrong: refused.
 */
export function camelNames(sql: string): Map<string, string> {
  const names = new Map<string, string>();
  for (const [name] of sql.matchAll(/\b[a-z][a-z0-9]*[A-Z][A-Za-z0-9]*\b/g)) {
    const other = names.get(name.toLowerCase());
    if (other && other !== name) throw new Error(`"${other}" and "${name}" in one schema: spell them alike`);
    names.set(name.toLowerCase(), name);
  }
  return names;
}

/** The same db answering rows with the camelCase keys of `names`. */
export function named(db: PgDb, names: Map<string, string>): PgDb {
  const camel = <T>(row: Record<string, unknown>): T => {
    const out: Record<string, unknown> = {};
    for (const key in row) out[names.get(key) ?? key] = row[key];
    return out as T;
  };
  return {
    rows: async <T>(sql: string, params?: readonly unknown[]) =>
      (await db.rows<Record<string, unknown>>(sql, params)).map((r) => camel<T>(r)),
    row: async <T>(sql: string, params?: readonly unknown[]) => {
      const row = await db.row<Record<string, unknown>>(sql, params);
      return row && camel<T>(row);
    },
    run: (sql, params) => db.run(sql, params),
    atomic: (work) => db.atomic((inner) => work(named(inner, names))),
  };
}

const NUMBER_TYPES = new Set([20 /* int8 */, 1700 /* numeric */]);
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    NUMBER_TYPES.has(oid) && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EPIPE',
]);
/** SQLSTATE classes of a server that went away or cannot take work now (57P01 admin shutdown, 08 connection). */
const unreachable = (err: unknown): boolean => {
  const code = (err as { code?: string })?.code ?? '';
  return (
    UNREACHABLE.has(code) ||
    code.startsWith('08') ||
    code === '57P01' ||
    code === '57P02' ||
    code === '57P03' ||
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
      String((err as Error)?.message),
    )
  );
};

export interface PgPool {
  readonly pool: pg.Pool;
  readonly db: PgDb;
  /** A connection of its own for one transaction: BEGIN … COMMIT around `work`. */
  transaction<T>(work: (db: PgDb) => Promise<T>): Promise<T>;
  /** Why the server cannot be used now (the last query could not reach it), for health. */
  problem(): string | undefined;
  close(): Promise<void>;
}

export function connectPostgres(location: PostgresLocation): PgPool {
  const pool = new pg.Pool({
    connectionString: location.url,
    max: 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    types,
  });
  let down: string | undefined;
  let closing: Promise<void> | undefined;
  let probe: NodeJS.Timeout | undefined;
  const up = () => {
    down = undefined;
    clearInterval(probe);
    probe = undefined;
  };
  /** While the server does not answer, it is asked every second, so that health recovers without traffic. */
  const failed = (message: string) => {
    down = message;
    probe ??= setInterval(() => void pool.query('SELECT 1').then(up, () => undefined), 1000).unref();
  };
  // A pooled connection that breaks while idle (the server stopped) is dropped by the pool; without a
  // listener its error would end the process.
  pool.on('error', (err) => failed(`PostgreSQL at ${location.endpoint} is unreachable: ${err.message}`));
  /** Calls and transactions not answered yet: closing waits for them. */
  const pending = new Set<Promise<unknown>>();
  const guard = <T>(work: () => Promise<T>): Promise<T> => {
    const call = guarded(work);
    pending.add(call);
    const done = () => void pending.delete(call);
    call.then(done, done);
    return call;
  };
  const guarded = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      const result = await work();
      if (down) up();
      return result;
    } catch (err) {
      if (unreachable(err)) {
        failed(`PostgreSQL at ${location.endpoint} is unreachable`);
        throw new StorageUnavailableError(down!, { cause: err });
      }
      throw err;
    }
  };
  const transaction = <T>(work: (db: PgDb) => Promise<T>): Promise<T> =>
    guard(async () => {
      const client = await pool.connect();
      let broken: Error | undefined;
      // The pool listens to idle connections only: one that breaks while it holds a transaction (the server
      // stopped) emits its error here, and is dropped when released (its query rejects as well).
      const lost = (err: Error) => {
        broken = err;
        failed(`PostgreSQL at ${location.endpoint} is unreachable: ${err.message}`);
      };
      client.on('error', lost);
      try {
        await client.query('BEGIN');
        const result = await work(onClient(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((rollback: Error) => (broken = rollback));
        throw err;
      } finally {
        client.off('error', lost);
        client.release(broken);
      }
    });

  const onClient = (client: pg.PoolClient): PgDb => {
    const db: PgDb = {
      rows: async <T>(sql: string, params: readonly unknown[] = []) =>
        (await client.query(sql, params as unknown[])).rows as T[],
      row: async <T>(sql: string, params: readonly unknown[] = []) =>
        (await client.query(sql, params as unknown[])).rows[0] as T | undefined,
      run: async (sql, params = []) => (await client.query(sql, params as unknown[])).rowCount ?? 0,
      atomic: (work) => work(db),
    };
    return db;
  };

  const db: PgDb = {
    rows: <T>(sql: string, params: readonly unknown[] = []) =>
      guard(async () => (await pool.query(sql, params as unknown[])).rows as T[]),
    row: <T>(sql: string, params: readonly unknown[] = []) =>
      guard(async () => (await pool.query(sql, params as unknown[])).rows[0] as T | undefined),
    run: (sql, params = []) => guard(async () => (await pool.query(sql, params as unknown[])).rowCount ?? 0),
    atomic: transaction,
  };
  return {
    pool,
    db,
    transaction,
    problem: () => down,
    // Once the calls made before have been answered (an open transaction ends first); a second call answers
    // the first one's end.
    close: () => {
      clearInterval(probe);
      closing ??= Promise.allSettled([...pending]).then(() => pool.end());
      return closing;
    },
  };
}

/**
 * Creates the database when it does not exist yet (through the server's `postgres` database, with the same
 * credentials); several processes starting at once may race to it, and one of them wins.
 */
export async function ensureDatabase(location: PostgresLocation): Promise<void> {
  const url = new URL(location.url);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 5_000 });
  // A connection lost meanwhile rejects the call below; without a listener its error would end the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
    // The name matched DATABASE_NAME (location.ts): quoted, it is taken exactly as written.
    await client.query(`CREATE DATABASE "${location.database}"`);
  } catch (err) {
    // Another process won: duplicate_database, or the catalog's unique index when both created at once.
    const code = (err as { code?: string }).code;
    if (code !== '42P04' && code !== '23505') throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Connects and runs `init` (a migration): a database that does not exist yet is created first; a server
 * that cannot be reached stops here with an error naming PostgreSQL, the endpoint and the database.
 */
export async function openPostgres(
  location: PostgresLocation,
  init: (connection: PgPool) => Promise<void>,
): Promise<PgPool> {
  for (let created = false; ; created = true) {
    const connection = connectPostgres(location);
    try {
      await init(connection);
      return connection;
    } catch (err) {
      await connection.close();
      const missing = (err as { code?: string }).code === '3D000';
      if (missing && !created) {
        await ensureDatabase(location).catch((cause: unknown) => {
          throw unavailable(location, cause);
        });
        continue;
      }
      throw unreachable(err) || err instanceof StorageUnavailableError ? unavailable(location, err) : err;
    }
  }
}

const unavailable = (location: PostgresLocation, cause: unknown) =>
  new StorageUnavailableError(
    `PostgreSQL at ${location.endpoint} (database ${location.database}) is unreachable: ${((cause as Error).cause as Error | undefined)?.message ?? (cause as Error).message}`,
    { cause },
  );

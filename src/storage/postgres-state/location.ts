/**
 * `SLUICE_STATE=postgres://user:password@host:port/database` read into what the pool needs (no client loaded:
 * the configuration reads it at every start); logs mask its password (storage/masked-url.ts).
 */

/** A database name as `SLUICE_STATE` may give it: a plain identifier (created when missing). */
export const DATABASE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export interface PostgresLocation {
  /** The URL as given (the pool's connection string). */
  url: string;
  /** `host:port`, without credentials (for messages). */
  endpoint: string;
  database: string;
}

/** Reads `SLUICE_STATE`; throws a message naming what is wrong (never the password). */
export function parsePostgresUrl(text: string): PostgresLocation {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error('SLUICE_STATE must be a URL such as postgres://user:password@host:5432/database');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
    throw new Error(`SLUICE_STATE must use postgres: or postgresql:, not ${url.protocol}`);
  if (!url.hostname) throw new Error('SLUICE_STATE must name the PostgreSQL host');
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!DATABASE_NAME.test(database))
    throw new Error(
      `SLUICE_STATE names the database "${database}": give one of letters, digits and _ (it is created when missing)`,
    );
  return { url: text, endpoint: `${url.hostname}:${url.port || '5432'}`, database };
}

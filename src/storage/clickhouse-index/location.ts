/**
 * `SLUICE_INDEX=http://user:password@host:8123/database` read into its parts (no client loaded: the
 * configuration reads it at every start); logs mask its password (storage/masked-url.ts).
 */
import { DATABASE_NAME } from './schema.js';

export interface ClickHouseLocation {
  /** `http://host:port`, without credentials. */
  endpoint: string;
  username: string;
  password: string;
  database: string;
}

/** Reads `SLUICE_INDEX`; throws a message naming what is wrong (never the password). */
export function parseClickHouseUrl(text: string): ClickHouseLocation {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error('SLUICE_INDEX must be a URL such as http://user:password@host:8123/database');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(
      `SLUICE_INDEX must use http: or https: (ClickHouse's HTTP interface), not ${url.protocol}`,
    );
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || 'default';
  if (!DATABASE_NAME.test(database))
    throw new Error(`SLUICE_INDEX names the database "${database}": use letters, digits and _ only`);
  return {
    endpoint: `${url.protocol}//${url.host}`,
    username: decodeURIComponent(url.username) || 'default',
    password: decodeURIComponent(url.password),
    database,
  };
}

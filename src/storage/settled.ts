/**
 * Synchronous adapters (better-sqlite3) behind asynchronous ports: each call does its work at once, inside
 * the call, and answers a settled promise. The work keeps the order of the calls, and a throw becomes a
 * rejection, as a networked adapter's failure would.
 */
import { ANSWERS_PROMISES } from './sqlite-transactions.js';

/** The synchronous form of an asynchronous port: the same methods, answering their values directly. */
export type Synchronous<T> = {
  [K in keyof T]: NonNullable<T[K]> extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : T[K];
};

/** Wraps each method of a synchronous implementation so that it answers a settled promise. */
export function settled<T extends object>(implementation: Synchronous<T>): T {
  const port: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(implementation))
    port[name] =
      typeof value === 'function'
        ? Object.assign(
            (...args: unknown[]) => {
              try {
                return Promise.resolve(value(...args));
              } catch (err) {
                return Promise.reject(err);
              }
            },
            { [ANSWERS_PROMISES]: true },
          )
        : value;
  return port as T;
}

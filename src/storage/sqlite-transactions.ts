/**
 * Transactions of the SQLite state store behind its asynchronous port. better-sqlite3 runs one connection
 * synchronously and cannot hold a transaction open across an `await`, so the adapter does it by hand:
 * BEGIN IMMEDIATE, the caller's asynchronous work through stores bound to the transaction, then COMMIT (or
 * ROLLBACK when the work fails). While one is open, every other call of the state store waits behind it, in
 * call order, so no other statement lands inside it (and is committed or rolled back with it). When none is
 * open, calls run at once, as before: the gate costs them nothing.
 *
 * A PostgreSQL adapter gives the same port a connection of its pool for the transaction; its other calls
 * go on in parallel on other connections, and row locks keep them apart.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type Database from 'better-sqlite3';
import { boundToTransaction } from './transaction-bound.js';

/** Marks the methods of settled stores (storage/settled.ts): they answer promises, so they can wait. */
export const ANSWERS_PROMISES = Symbol('answers promises');

export class StateGate {
  /** Work waiting for the open transaction (or for the queue ahead of it) to end, in call order. */
  private readonly queue: Array<() => Promise<unknown> | void> = [];
  private busy = false;
  /**
   * Set in a transaction's work, and in what it starts, while it is open: the store it must use then is the
   * transaction's. (Work it leaves running may use the store once the transaction has ended.)
   */
  private readonly inside = new AsyncLocalStorage<{ open: boolean }>();

  constructor(private readonly db: Database.Database) {}

  /** An ordinary call: at once when no transaction is open or waiting, else after them, in order. */
  run<T>(call: () => Promise<T>): Promise<T> {
    if (!this.busy) return call();
    if (this.inside.getStore()?.open)
      // It would wait for the very transaction that waits for it.
      return Promise.reject(
        new Error('state store called from inside a transaction: use the transaction’s stores'),
      );
    return new Promise<T>((resolve, reject) => this.queue.push(() => void call().then(resolve, reject)));
  }

  /**
   * Runs `work` in one transaction with `stores` bound to it: committed when `work` resolves, rolled back
   * when it rejects (with its error). Transactions run one at a time.
   */
  transaction<S, T>(stores: S, work: (tx: S) => Promise<T>): Promise<T> {
    if (this.inside.getStore()?.open)
      return Promise.reject(new Error('state store transactions do not nest'));
    return new Promise<T>((resolve, reject) => {
      const start = () => this.runTransaction(stores, work).then(resolve, reject);
      if (this.busy) {
        this.queue.push(start);
        return;
      }
      this.busy = true;
      void this.drain(start());
    });
  }

  private async runTransaction<S, T>(stores: S, work: (tx: S) => Promise<T>): Promise<T> {
    this.db.exec('BEGIN IMMEDIATE');
    const context = { open: true };
    const bound = boundToTransaction(stores as object, context) as S;
    try {
      const result = await this.inside.run(context, () => work(bound));
      context.open = false;
      this.db.exec('COMMIT');
      return result;
    } catch (err) {
      context.open = false;
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
  }

  private async drain(first: Promise<unknown>): Promise<void> {
    await first.catch(() => undefined);
    for (let next = this.queue.shift(); next; next = this.queue.shift()) await next()?.catch(() => undefined);
    this.busy = false;
  }
}

/**
 * The same methods, each through the gate: settled ones wait while a transaction is open. A synchronous
 * one could not wait, so it is left as it is (every part of the state store is settled).
 */
export function gated<T extends object>(methods: T, gate: StateGate): T {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(methods))
    out[name] =
      typeof value === 'function' && (value as { [ANSWERS_PROMISES]?: true })[ANSWERS_PROMISES]
        ? (...args: unknown[]) => gate.run(() => (value as (...a: unknown[]) => Promise<unknown>)(...args))
        : value;
  return out as T;
}

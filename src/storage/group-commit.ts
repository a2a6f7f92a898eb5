/**
 * Group commit: work asked for while the event loop is busy is written together, in the order asked, in
 * one transaction (one disk flush instead of one each).
 *
 * With SQLite's `synchronous = FULL` a commit flushes the disk on the event loop's thread: box transfers,
 * whose every image ends with a small write (a key recorded; an image sent, received, reported), spent more
 * time in those flushes than in anything else.
 */
import type { StateStore, StateTransaction } from './state-store.js';

/**
 * Items added while the event loop is busy, handed to `write` together right after the current turn of the
 * loop, or `gatherMs` after the first of them (SQLite flushes on the event loop's thread, so items that come
 * while one batch commits arrive in the turns after it, not in the same one: a short window gathers them).
 * A batch is written after the one before it. `write` must not reject: it answers each item itself.
 */
export class Batches<T> {
  private queue: T[] = [];
  /** The last batch written or being written. */
  private written: Promise<void> = Promise.resolve();

  constructor(
    private readonly write: (batch: T[]) => Promise<void>,
    private readonly gatherMs = 0,
  ) {}

  add(item: T): void {
    if (!this.queue.length) {
      const start = () => {
        this.written = this.written.then(() => {
          const batch = this.queue;
          this.queue = [];
          return this.write(batch);
        });
      };
      if (this.gatherMs > 0) setTimeout(start, this.gatherMs);
      else setImmediate(start);
    }
    this.queue.push(item);
  }
}

interface Call {
  method: keyof StateTransaction;
  args: unknown[];
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

type AnyMethod = (...args: unknown[]) => Promise<unknown>;

/**
 * The state store with calls of `methods` group-committed (Batches, `windowMs`); every other method is the
 * store's own. When a batch's transaction fails, its calls run again one by one, each in its own commit, so
 * that one bad call answers its own error and does not fail the others. Only calls made outside a
 * transaction may go through it (a call inside one would wait for the batch, which waits for the
 * transaction).
 */
export function groupCommitted<S extends StateStore>(
  store: S,
  methods: ReadonlyArray<keyof StateTransaction>,
  windowMs = 0,
): S {
  const alone = (call: Call) =>
    (store[call.method] as AnyMethod).apply(store, call.args).then(call.resolve, call.reject);

  const batches = new Batches<Call>(async (batch) => {
    if (batch.length === 1) return alone(batch[0]!);
    let results: unknown[];
    try {
      results = await store.transaction(async (tx) => {
        const answers: unknown[] = [];
        for (const call of batch) answers.push(await (tx[call.method] as AnyMethod)(...call.args));
        return answers;
      });
    } catch {
      for (const call of batch) await alone(call);
      return;
    }
    batch.forEach((call, i) => call.resolve(results[i]));
  }, windowMs);

  const overrides = new Map<PropertyKey, AnyMethod>(
    methods.map((method) => [
      method,
      (...args) => new Promise((resolve, reject) => batches.add({ method, args, resolve, reject })),
    ]),
  );
  return new Proxy(store, {
    get(target, property, receiver) {
      const override = overrides.get(property);
      if (override) return override;
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

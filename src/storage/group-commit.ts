/**
 * Group commit over the state store: calls of the chosen methods made while the event loop is busy are
 * queued and run together, in the order made, in one transaction (one disk flush instead of one each),
 * right after the current turn of the loop, or `windowMs` later (SQLite flushes on the event loop's thread, so
 * calls that come while one batch commits arrive in the turns after it, not in the same one: a short window
 * gathers them). A batch waits for the one before it. When a batch's
 * transaction fails, its calls run again one by one, each in its own commit, so that one bad call answers
 * its own error and does not fail the others.
 *
 * With SQLite's `synchronous = FULL` a commit flushes the disk on the event loop's thread: box transfers,
 * whose every image ends with a small write (an image sent, received, reported), spent more time in those
 * flushes than in anything else.
 */
import type { StateStore, StateTransaction } from './state-store.js';

type Method<S, K extends keyof S> = S[K] extends (...args: infer A) => Promise<infer R>
  ? (...args: A) => Promise<R>
  : never;

interface Call<S> {
  method: keyof S;
  args: unknown[];
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * The store with `methods` group-committed; every other method is the store's own. Only calls made outside
 * a transaction may go through it (a call inside one would wait for the batch, which waits for the
 * transaction).
 */
export function groupCommitted<S extends StateStore, K extends keyof StateTransaction & keyof S>(
  store: S,
  methods: readonly K[],
  windowMs = 0,
): S {
  let queue: Array<Call<S>> = [];
  let written: Promise<void> = Promise.resolve();

  const alone = (call: Call<S>) =>
    (store[call.method] as (...args: unknown[]) => Promise<unknown>)
      .apply(store, call.args)
      .then(call.resolve, call.reject);

  const flush = async (): Promise<void> => {
    const batch = queue;
    queue = [];
    if (batch.length === 1) return alone(batch[0]!);
    let results: unknown[];
    try {
      results = await store.transaction(async (tx) => {
        const answers: unknown[] = [];
        for (const call of batch)
          answers.push(
            await (tx[call.method as keyof StateTransaction] as (...args: unknown[]) => Promise<unknown>)(
              ...call.args,
            ),
          );
        return answers;
      });
    } catch {
      for (const call of batch) await alone(call);
      return;
    }
    batch.forEach((call, i) => call.resolve(results[i]));
  };

  const queued =
    (method: K) =>
    (...args: unknown[]): Promise<unknown> =>
      new Promise((resolve, reject) => {
        if (!queue.length) {
          const start = () => {
            written = written.then(flush);
          };
          if (windowMs > 0) setTimeout(start, windowMs);
          else setImmediate(start);
        }
        queue.push({ method, args, resolve, reject });
      });

  const overrides = Object.fromEntries(methods.map((m) => [m, queued(m)])) as {
    [M in K]: Method<S, M>;
  };
  return new Proxy(store, {
    get(target, property, receiver) {
      if (Object.hasOwn(overrides, property)) return overrides[property as K];
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

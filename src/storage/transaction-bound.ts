/**
 * The stores handed to a state transaction's work refuse to work once it has ended: a call kept past its
 * end would otherwise run outside it (SQLite: after COMMIT; PostgreSQL: on a connection given back).
 */
export function boundToTransaction<S extends object>(stores: S, context: { open: boolean }): S {
  return new Proxy(stores, {
    get: (target, key, receiver) => {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (!context.open) throw new Error(`state store transaction already ended (${String(key)})`);
        return (value as (...a: unknown[]) => unknown)(...args);
      };
    },
  });
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteState } from './sqlite-state.js';
import { combineParts } from './state-parts.js';
import type { StateStore } from './state-store.js';
import { onPostgres, stateEngine } from '../../test/helpers/state-engines.js';

// The same tests on SQLite (embedded project) and on PostgreSQL (scale project); those about SQLite files
// and its transaction gate run on SQLite only, and PostgreSQL has its own below.
const engine = stateEngine();
const onSqlite = !onPostgres();
let dir: string;
let path: string;
let store: StateStore;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-state-'));
  path = join(dir, 'state.sqlite');
  store = onSqlite ? openSqliteState(path) : await engine.open();
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Closes the store and opens it again where it was (what a restart finds). */
const reopen = async () => {
  await store.close().catch(() => undefined);
  store = onSqlite ? openSqliteState(path) : await engine.reopen(store);
};

const addUser = async (user: string, role: 'USER' | 'ADMINISTRATOR' | 'SUPERUSER' = 'USER') =>
  await store.insertUser({ user, role, passwordHash: `hash-of-${user}` });

describe('users', () => {
  it('inserts once per name, lists without hashes, updates and deletes', async () => {
    expect(await addUser('admin', 'SUPERUSER')).toEqual({
      user: { id: 1, user: 'admin', role: 'SUPERUSER' },
      created: true,
    });
    expect(await addUser('bob')).toMatchObject({ user: { id: 2 }, created: true });
    expect(await store.insertUser({ user: 'bob', role: 'ADMINISTRATOR', passwordHash: 'other' })).toEqual({
      user: { id: 2, user: 'bob', role: 'USER' },
      created: false,
    });
    expect(await store.listUsers(0, 10)).toEqual([
      { id: 1, user: 'admin', role: 'SUPERUSER' },
      { id: 2, user: 'bob', role: 'USER' },
    ]);
    expect(await store.listUsers(1, 1)).toEqual([{ id: 2, user: 'bob', role: 'USER' }]);
    expect(await store.listUsers(0, Number.MAX_SAFE_INTEGER)).toHaveLength(2);
    expect(await store.superuser()).toEqual({ id: 1, user: 'admin', role: 'SUPERUSER' });
    expect(await store.credentials('bob')).toEqual({
      user: { id: 2, user: 'bob', role: 'USER' },
      passwordHash: 'hash-of-bob',
    });
    expect(await store.credentials("bob' OR 1=1 --")).toBeUndefined();

    await store.updateUser(2, { user: 'robert', passwordHash: 'new' });
    expect(await store.credentials('robert')).toMatchObject({
      user: { id: 2, role: 'USER' },
      passwordHash: 'new',
    });
    await store.updateUser(2, {});
    expect(await store.deleteUser(2)).toBe(true);
    expect(await store.deleteUser(2)).toBe(false);
    expect(await store.user(2)).toBeUndefined();
  });

  it('refuses a role that does not exist', async () => {
    await expect(store.insertUser({ user: 'x', role: 'OWNER' as 'USER', passwordHash: 'h' })).rejects.toThrow(
      /check constraint/i,
    );
  });
});

describe('sessions', () => {
  it('are found by token hash, touched, and go with their user', async () => {
    const bob = (await addUser('bob')).user;
    await store.insertSession({ tokenHash: 't1', userId: bob.id, createdAt: 1000 });
    await store.insertSession({ tokenHash: 't2', userId: bob.id, createdAt: 1000 });
    expect(await store.session('t1')).toEqual({ user: bob, lastUsedAt: 1000 });
    await store.touchSession('t1', 5000);
    expect((await store.session('t1'))?.lastUsedAt).toBe(5000);
    expect(await store.deleteSessionsIdleSince(2000)).toBe(1);
    expect(await store.session('t2')).toBeUndefined();
    await store.deleteUser(bob.id);
    expect(await store.session('t1')).toBeUndefined();
  });

  it('survive closing and opening the file again', async () => {
    const bob = (await addUser('bob')).user;
    await store.insertSession({ tokenHash: 't1', userId: bob.id, createdAt: 1000 });
    await store.recordLoginFailure(['user:bob'], 900);
    await reopen();
    expect((await store.session('t1'))?.user).toEqual(bob);
    expect(await store.loginFailuresSince('user:bob', 0)).toEqual([900]);
  });
});

describe('login failures', () => {
  it('are recorded per key, answered newest first, cleared and pruned', async () => {
    await store.recordLoginFailure(['user:bob', 'address:1.2.3.4'], 100);
    await store.recordLoginFailure(['user:bob', 'address:5.6.7.8'], 300);
    await store.recordLoginFailure(['user:bob', 'address:1.2.3.4'], 200);
    expect(await store.loginFailuresSince('user:bob', 0)).toEqual([300, 200, 100]);
    expect(await store.loginFailuresSince('user:bob', 200)).toEqual([300, 200]);
    expect(await store.loginFailuresSince('address:1.2.3.4', 0)).toEqual([200, 100]);
    await store.clearLoginFailures('user:bob');
    expect(await store.loginFailuresSince('user:bob', 0)).toEqual([]);
    await store.deleteLoginFailuresBefore(150);
    expect(await store.loginFailuresSince('address:1.2.3.4', 0)).toEqual([200]);
  });
});

describe('managed SCPs', () => {
  it.runIf(onSqlite)(
    'keep whether they offer Q/R; those of a schema before it (3) offer it, as they did',
    async () => {
      expect(
        await store.insertScp({ name: 'quiet', aeTitle: 'QUIET', port: 11200, queryRetrieve: false }),
      ).toEqual({
        id: 101,
        name: 'quiet',
        aeTitle: 'QUIET',
        port: 11200,
        queryRetrieve: false,
      });
      await store.close();
      const db = new Database(path);
      db.exec('ALTER TABLE Scps DROP COLUMN queryRetrieve');
      db.prepare("INSERT INTO Scps (name, aeTitle, port) VALUES ('old', 'OLD', 11201)").run();
      db.pragma('user_version = 3');
      db.close();
      store = openSqliteState(path);
      expect((await store.listScps(0, 10)).map((s) => [s.name, s.queryRetrieve])).toEqual([
        ['quiet', true],
        ['old', true],
      ]);
      expect(
        await store.insertScp({ name: 'new', aeTitle: 'NEW', port: 11202, queryRetrieve: false }),
      ).toMatchObject({
        queryRetrieve: false,
      });
      expect((await store.scp(103))?.queryRetrieve).toBe(false);
    },
  );
});

it.runIf(onSqlite)('refuses a file written by a newer schema', async () => {
  await store.close();
  const db = new Database(path);
  db.pragma('user_version = 99');
  db.close();
  expect(() => openSqliteState(path)).toThrow(/schema version 99/);
  store = openSqliteState(':memory:');
});

describe('combining the parts', () => {
  it('refuses two parts that define the same method', () => {
    const a = { list: () => 1 };
    const b = { list: () => 2 };
    expect(() =>
      combineParts(
        [
          ['a', a],
          ['b', b],
        ],
        {},
      ),
    ).toThrow('state store parts "a" and "b" both define list');
    expect(Object.keys(combineParts([['a', a]], { close: () => undefined }))).toEqual(['list', 'close']);
  });
});

describe('transactions', () => {
  const names = async () => (await store.listTagFilters(0, 100)).map((f) => f.name);

  it('commit what their work wrote across parts, and roll it all back when the work fails', async () => {
    await store.transaction(async (tx) => {
      await tx.insertTagFilter({ name: 'kept', tagFilterType: 'BLACKLIST' });
      await tx.insertSeriesType('kept type');
    });
    await expect(
      store.transaction(async (tx) => {
        await tx.insertTagFilter({ name: 'gone', tagFilterType: 'BLACKLIST' });
        await tx.insertSeriesType('gone type');
        await new Promise((resolve) => setTimeout(resolve, 5));
        throw new Error('the work failed');
      }),
    ).rejects.toThrow('the work failed');
    expect(await names()).toEqual(['kept']);
    expect((await store.listSeriesTypes(0, 10)).map((t) => t.name)).toEqual(['kept type']);
  });

  it.runIf(onSqlite)(
    'make the calls of others wait until they end, in call order, and are not rolled back with them',
    async () => {
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const order: string[] = [];
      const failing = store.transaction(async (tx) => {
        await tx.insertTagFilter({ name: 'inside', tagFilterType: 'BLACKLIST' });
        await held;
        throw new Error('rolled back');
      });
      const outside = store.insertTagFilter({ name: 'outside', tagFilterType: 'WHITELIST' }).then((f) => {
        order.push('outside');
        return f;
      });
      const second = store.transaction(async (tx) => {
        order.push('second');
        return await tx.insertTagFilter({ name: 'second', tagFilterType: 'WHITELIST' });
      });
      const after = names().then((n) => {
        order.push('after');
        return n;
      });
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(order).toEqual([]); // all wait for the open transaction
      release();
      await expect(failing).rejects.toThrow('rolled back');
      expect((await outside).name).toBe('outside');
      expect((await second).name).toBe('second');
      // Run in call order: the insert before the second transaction, the list after both.
      expect((await outside).id).toBeLessThan((await second).id);
      expect(await after).toEqual(['outside', 'second']);
      // Once none is open, calls run at once again.
      expect(await names()).toEqual(['outside', 'second']);
    },
  );

  it('end before the store closes', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const open = store.transaction(async (tx) => {
      await held;
      return await tx.insertTagFilter({ name: 'committed', tagFilterType: 'BLACKLIST' });
    });
    let closed = false;
    const closing = store.close().then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(closed).toBe(false);
    release();
    expect((await open).name).toBe('committed');
    await closing;
    await reopen();
    expect(await names()).toEqual(['committed']);
  });

  it.runIf(onSqlite)(
    'refuse the store itself inside their work (it would wait for them), and their stores once ended',
    async () => {
      let kept: { listTagFilters(s: number, c: number): Promise<unknown> } | undefined;
      await expect(
        store.transaction(async (tx) => {
          kept = tx;
          await store.insertTagFilter({ name: 'deadlock', tagFilterType: 'BLACKLIST' });
        }),
      ).rejects.toThrow(/inside a transaction/);
      expect(() => kept!.listTagFilters(0, 10)).toThrow(/already ended/);
      await expect(store.transaction(async () => store.transaction(async () => 1))).rejects.toThrow(
        /do not nest/,
      );
      expect(await names()).toEqual([]);
    },
  );
});

describe.runIf(onPostgres())('on PostgreSQL', () => {
  const names = async () => (await store.listTagFilters(0, 100)).map((f) => f.name);

  it('runs the calls of others beside an open transaction, which does not roll them back', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let kept: { listTagFilters(s: number, c: number): Promise<unknown> } | undefined;
    const failing = store.transaction(async (tx) => {
      kept = tx;
      await tx.insertTagFilter({ name: 'inside', tagFilterType: 'BLACKLIST' });
      await held;
      throw new Error('rolled back');
    });
    // Not committed yet: others do not see it, and are not held up by it.
    expect((await store.insertTagFilter({ name: 'outside', tagFilterType: 'WHITELIST' })).name).toBe(
      'outside',
    );
    expect(await names()).toEqual(['outside']);
    release();
    await expect(failing).rejects.toThrow('rolled back');
    expect(await names()).toEqual(['outside']);
    expect(() => kept!.listTagFilters(0, 10)).toThrow(/already ended/);
  });

  it('is created and migrated once when several processes open a new database at the same moment', async () => {
    const url = `${engine.placeOf(store)}_shared`;
    const { openPostgresState } = await import('./postgres-state/index.js');
    const stores = await Promise.all([1, 2, 3, 4].map(() => openPostgresState(url)));
    try {
      await Promise.all(
        stores.map((s, n) => s.insertTagFilter({ name: `f${n}`, tagFilterType: 'BLACKLIST' })),
      );
      expect((await stores[0].listTagFilters(0, 10)).map((f) => f.name).sort()).toEqual([
        'f0',
        'f1',
        'f2',
        'f3',
      ]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('refuses a database written by a newer schema, naming both versions', async () => {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: engine.placeOf(store) });
    await client.connect();
    await client.query("UPDATE SluiceSchema SET version = 99 WHERE name = 'state'");
    await client.end();
    await expect(engine.reopen(store)).rejects.toThrow(
      /schema version 99, newer than this Sluice knows \(1\)/,
    );
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteState } from '../storage/sqlite-state.js';
import { BadRequestError } from '../errors.js';
import type { StateStore } from '../storage/state-store.js';
import { hasRole, UserService } from './service.js';

let store: StateStore;
let clock: number;
let users: UserService;
beforeEach(() => {
  store = openSqliteState(':memory:');
  clock = Date.UTC(2026, 0, 1);
  users = new UserService(store, { sessionTimeoutSecs: 3600, now: () => clock });
});
afterEach(async () => await store.close());

const superusers = async () => (await store.listUsers(0, 100)).filter((u) => u.role === 'SUPERUSER');

describe('roles', () => {
  it('orders SUPERUSER ⊃ ADMINISTRATOR ⊃ USER', () => {
    expect(hasRole({ role: 'SUPERUSER' }, 'ADMINISTRATOR')).toBe(true);
    expect(hasRole({ role: 'ADMINISTRATOR' }, 'ADMINISTRATOR')).toBe(true);
    expect(hasRole({ role: 'ADMINISTRATOR' }, 'USER')).toBe(true);
    expect(hasRole({ role: 'ADMINISTRATOR' }, 'SUPERUSER')).toBe(false);
    expect(hasRole({ role: 'USER' }, 'ADMINISTRATOR')).toBe(false);
  });
});

describe('the superuser from the configuration', () => {
  it('is created at first start and keeps its hash while the password stays the same', async () => {
    expect(await users.ensureSuperuser('admin', 'secret')).toEqual({
      id: 1,
      user: 'admin',
      role: 'SUPERUSER',
    });
    const hash = (await store.credentials('admin'))!.passwordHash;
    await users.ensureSuperuser('admin', 'secret');
    expect((await store.credentials('admin'))!.passwordHash).toBe(hash);
    expect(await superusers()).toHaveLength(1);
  });

  it('takes a new password, ending sessions and remembered Basic credentials', async () => {
    await users.ensureSuperuser('admin', 'secret');
    expect((await users.authenticate('admin', 'secret', 'a')).kind).toBe('ok');
    const { token } = await users.openSession(1);
    await users.ensureSuperuser('admin', 'changed');
    expect(await users.sessionUser(token)).toBeUndefined();
    expect((await users.authenticate('admin', 'secret', 'a')).kind).toBe('invalid');
    expect((await users.authenticate('admin', 'changed', 'a')).kind).toBe('ok');
  });

  it('follows a renamed superuser, keeping its id', async () => {
    await users.ensureSuperuser('admin', 'secret');
    expect(await users.ensureSuperuser('root', 'secret')).toEqual({ id: 1, user: 'root', role: 'SUPERUSER' });
    expect(await store.credentials('admin')).toBeUndefined();
    expect(await superusers()).toHaveLength(1);
  });

  it('promotes a user who already holds the name, and removes the old superuser', async () => {
    await users.ensureSuperuser('admin', 'secret');
    const bob = await users.create({ user: 'bob', role: 'USER', password: 'bob-password' });
    const { token } = await users.openSession(bob.id);
    expect(await users.ensureSuperuser('bob', 'boss')).toEqual({
      id: bob.id,
      user: 'bob',
      role: 'SUPERUSER',
    });
    expect(await superusers()).toEqual([{ id: bob.id, user: 'bob', role: 'SUPERUSER' }]);
    expect(await users.sessionUser(token)).toBeUndefined();
    expect((await users.authenticate('bob', 'boss', 'a')).kind).toBe('ok');
  });

  it('cannot be added or deleted through the service', async () => {
    await users.ensureSuperuser('admin', 'secret');
    await expect(users.create({ user: 'root', role: 'SUPERUSER', password: 'x' })).rejects.toThrow(
      BadRequestError,
    );
    await expect(users.delete(1)).rejects.toThrow(BadRequestError);
  });
});

describe('sessions', () => {
  it('end after the timeout of inactivity and slide with use', async () => {
    await users.ensureSuperuser('admin', 'secret');
    const { token, maxAgeSecs } = await users.openSession(1);
    expect(maxAgeSecs).toBe(3600);
    clock += 59_000;
    expect(await users.sessionUser(token)).toMatchObject({ refreshed: false });
    clock += 2_000;
    expect(await users.sessionUser(token)).toMatchObject({ user: { user: 'admin' }, refreshed: true });
    clock += 3_599_000;
    expect((await users.sessionUser(token))?.user.id).toBe(1);
    clock += 3_600_000;
    expect(await users.sessionUser(token)).toBeUndefined();
  });

  it('sweeps idle sessions when a new one opens', async () => {
    await users.ensureSuperuser('admin', 'secret');
    await users.openSession(1);
    clock += 3_600_001;
    await users.openSession(1);
    expect(await store.deleteSessionsIdleSince(clock - 1)).toBe(0);
  });
});

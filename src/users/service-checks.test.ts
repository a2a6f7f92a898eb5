import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openSqliteState } from '../storage/sqlite-state.js';
import type { StateStore } from '../storage/state-store.js';
import { UserService } from './service.js';

// Counts the scrypt checks the service runs (the real function still runs).
const checks = vi.hoisted(() => ({ count: 0 }));
vi.mock('./passwords.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('./passwords.js')>();
  return {
    ...real,
    verifyPassword: (password: string, stored: string) => {
      checks.count++;
      return real.verifyPassword(password, stored);
    },
  };
});

let store: StateStore;
let users: UserService;
beforeEach(async () => {
  store = openSqliteState(':memory:');
  users = new UserService(store, { sessionTimeoutSecs: 3600 });
  await users.ensureSuperuser('admin', 'secret');
  checks.count = 0;
});
afterEach(async () => await store.close());

describe('Basic credentials checked together', () => {
  it('share one password check: a client whose first requests come at once pays scrypt once', async () => {
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => users.authenticate('admin', 'secret', '127.0.0.1')),
    );
    expect(answers.every((a) => a.kind === 'ok')).toBe(true);
    expect(checks.count).toBe(1);
    // Then remembered: no check at all.
    expect((await users.authenticate('admin', 'secret', '127.0.0.1')).kind).toBe('ok');
    expect(checks.count).toBe(1);
  });

  it('still count every wrong attempt, so guessing is throttled as before', async () => {
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => users.authenticate('admin', 'guess', '10.0.0.9')),
    );
    expect(answers.map((a) => a.kind)).toEqual(Array(5).fill('invalid'));
    expect(checks.count).toBe(1);
    // The fifth failure throttles the pair, even with the right password.
    expect((await users.authenticate('admin', 'secret', '10.0.0.9')).kind).toBe('throttled');
    // Another address is not affected.
    expect((await users.authenticate('admin', 'secret', '10.0.0.10')).kind).toBe('ok');
  });

  it('do not share a check across different passwords', async () => {
    const [right, wrong] = await Promise.all([
      users.authenticate('admin', 'secret', '127.0.0.1'),
      users.authenticate('admin', 'wrong', '127.0.0.1'),
    ]);
    expect(right.kind).toBe('ok');
    expect(wrong.kind).toBe('invalid');
    expect(checks.count).toBe(2);
  });
});

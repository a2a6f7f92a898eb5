import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteState } from './sqlite-state.js';
import { groupCommitted } from './group-commit.js';
import type { StateStore } from './state-store.js';

let dir: string;
let state: StateStore;
let transactions: number;
let counted: StateStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-group-'));
  state = openSqliteState(join(dir, 'state.sqlite'));
  transactions = 0;
  // The store as the wrapper sees it, counting the transactions it opens.
  counted = new Proxy(state, {
    get(target, property) {
      if (property === 'transaction')
        return (work: Parameters<StateStore['transaction']>[0]) => {
          transactions++;
          return target.transaction(work);
        };
      const value = Reflect.get(target, property) as unknown;
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
});
afterEach(async () => {
  await state.close();
  await rm(dir, { recursive: true, force: true });
});

const box = (name: string) => ({
  name,
  token: `token-${name}`,
  baseUrl: `http://127.0.0.1:1/api/box/${name}`,
  sendMethod: 'PUSH' as const,
  defaultProfile: [],
});

describe('group commit over the state store', () => {
  it('runs calls made in one turn in one transaction, in order, each answering its own result', async () => {
    const store = groupCommitted(counted, ['insertBox']);
    const rows = await Promise.all(Array.from({ length: 20 }, (_, i) => store.insertBox(box(`b${i}`))));
    expect(transactions).toBe(1);
    expect(rows.map((r) => r.name)).toEqual(Array.from({ length: 20 }, (_, i) => `b${i}`));
    expect(new Set(rows.map((r) => r.id)).size).toBe(20);
    expect(rows.map((r) => r.id)).toEqual([...rows.map((r) => r.id)].sort((a, b) => a - b));
    // Methods not chosen are the store's own.
    expect((await store.listBoxes(0, 100)).length).toBe(20);
  });

  it('gathers calls of later turns within the window', async () => {
    const store = groupCommitted(counted, ['insertBox'], 20);
    const first = store.insertBox(box('early'));
    await new Promise((r) => setImmediate(r));
    const second = store.insertBox(box('later'));
    await Promise.all([first, second]);
    expect(transactions).toBe(1);
  });

  it('one failing call fails alone: the batch is run again call by call', async () => {
    await state.insertBox(box('taken'));
    const store = groupCommitted(counted, ['insertBox']);
    const results = await Promise.allSettled([
      store.insertBox(box('a')),
      store.insertBox(box('taken')), // the name is unique
      store.insertBox(box('c')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await state.listBoxes(0, 10)).map((b) => b.name).sort()).toEqual(['a', 'c', 'taken']);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import type { StateStore } from '../storage/state-store.js';
import { STATIC_SOURCE_ID_MAX } from '../pipeline/origin.js';
import { stateEngine } from '../../test/helpers/state-engines.js';

// The managed sources part on SQLite (embedded project) and on PostgreSQL (scale project).
const engine = stateEngine();
let state: StateStore;
afterEach(async () => state?.close().catch(() => undefined));

const FIRST = STATIC_SOURCE_ID_MAX + 1;

describe('managed SCPs', () => {
  it('get ids above those of pipeline files, never reused; keep Q/R; one per port; list in id order', async () => {
    state = await engine.open();
    const a = await state.insertScp({ name: 'a', aeTitle: 'A', port: 11112, queryRetrieve: false });
    expect(a).toEqual({ id: FIRST, name: 'a', aeTitle: 'A', port: 11112, queryRetrieve: false });
    const b = await state.insertScp({ name: 'a', aeTitle: 'B', port: 11113, queryRetrieve: true });
    expect(b).toEqual({ id: FIRST + 1, name: 'a', aeTitle: 'B', port: 11113, queryRetrieve: true });
    await expect(
      state.insertScp({ name: 'c', aeTitle: 'C', port: 11112, queryRetrieve: true }),
    ).rejects.toThrow(/unique/i);
    expect(await state.scp(a.id)).toEqual(a);
    expect(await state.listScps(0, 10)).toEqual([a, b]);
    expect(await state.listScps(1, Number.MAX_SAFE_INTEGER)).toEqual([b]);
    expect(await state.deleteScp(b.id)).toBe(true);
    expect(await state.deleteScp(b.id)).toBe(false);
    expect(await state.scp(b.id)).toBeUndefined();
    // The port is free again; the id is not given twice (PostgreSQL may leave out the refused insert's).
    const c = await state.insertScp({ name: 'c', aeTitle: 'C', port: 11113, queryRetrieve: true });
    expect(c.id).toBeGreaterThan(b.id);
    await state.close();
    state = await engine.reopen(state);
    expect(await state.listScps(0, 10)).toEqual([a, c]);
    expect(
      (await state.insertScp({ name: 'd', aeTitle: 'D', port: 1, queryRetrieve: false })).id,
    ).toBeGreaterThan(c.id);
  });
});

describe('watched directories', () => {
  it('get ids above those of pipeline files; one per path; list in id order', async () => {
    state = await engine.open();
    const a = await state.insertWatchedDirectory({ name: 'in', path: '/data/in' });
    expect(a).toEqual({ id: FIRST, name: 'in', path: '/data/in' });
    const b = await state.insertWatchedDirectory({ name: 'in', path: '/data/In' });
    expect(b.id).toBe(FIRST + 1);
    await expect(state.insertWatchedDirectory({ name: 'other', path: '/data/in' })).rejects.toThrow(
      /unique/i,
    );
    expect(await state.listWatchedDirectories(0, 10)).toEqual([a, b]);
    expect(await state.listWatchedDirectories(1, 1)).toEqual([b]);
    expect(await state.watchedDirectory(b.id)).toEqual(b);
    expect(await state.deleteWatchedDirectory(a.id)).toBe(true);
    expect(await state.deleteWatchedDirectory(a.id)).toBe(false);
    expect(await state.watchedDirectory(a.id)).toBeUndefined();
    expect((await state.insertWatchedDirectory({ name: 'again', path: '/data/in' })).id).toBeGreaterThan(
      b.id,
    );
  });
});

describe('import sessions', () => {
  it('are unique by name, count their files and images, and take their image list with them', async () => {
    state = await engine.open();
    const s = await state.insertImportSession({ name: 'upload', userId: 7, user: 'bob' }, 1000);
    expect(s).toEqual({
      id: 1,
      name: 'upload',
      userId: 7,
      user: 'bob',
      filesImported: 0,
      filesAdded: 0,
      filesRejected: 0,
      created: 1000,
      lastUpdated: 1000,
    });
    await expect(state.insertImportSession({ name: 'upload', userId: 8, user: 'eve' }, 1001)).rejects.toThrow(
      /unique/i,
    );
    expect(await state.importSessionByName('upload')).toEqual(s);
    expect(await state.importSessionByName('Upload')).toBeUndefined();
    expect(await state.importSession(s.id)).toEqual(s);

    const big = 2 ** 40;
    await state.countImport(s.id, 'added', big, 2000);
    await state.countImport(s.id, 'added', 3, 2001);
    await state.countImport(s.id, 'duplicate', 3, 2002);
    await state.countImport(s.id, 'duplicate', undefined, 2003);
    expect(await state.countImport(s.id, 'rejected', undefined, 1_700_000_000_000)).toEqual({
      ...s,
      filesImported: 4,
      filesAdded: 2,
      filesRejected: 1,
      lastUpdated: 1_700_000_000_000,
    });
    expect(await state.importSessionImageIds(s.id)).toEqual([3, big]);
    await expect(state.countImport(999, 'added', undefined, 1)).rejects.toThrow(/import session 999/);

    const t = await state.insertImportSession({ name: 'second', userId: 7, user: 'bob' }, 5000);
    await state.countImport(t.id, 'added', 3, 5001);
    expect((await state.listImportSessions(0, 10)).map((x) => [x.id, x.name, x.filesImported])).toEqual([
      [s.id, 'upload', 4],
      [t.id, 'second', 1],
    ]);
    expect((await state.listImportSessions(1, 10)).map((x) => x.name)).toEqual(['second']);
    expect(await state.deleteImportSession(s.id)).toBe(true);
    expect(await state.deleteImportSession(s.id)).toBe(false);
    expect(await state.importSessionImageIds(s.id)).toEqual([]);
    expect(await state.importSessionImageIds(t.id)).toEqual([3]);
    // The name is free again.
    expect(
      (await state.insertImportSession({ name: 'upload', userId: 8, user: 'eve' }, 6000)).id,
    ).toBeGreaterThan(t.id);
  });

  it('count as one with the rest of a transaction, and not at all when it rolls back', async () => {
    state = await engine.open();
    const s = await state.insertImportSession({ name: 'upload', userId: 7, user: 'bob' }, 1000);
    await expect(
      state.transaction(async (tx) => {
        await tx.countImport(s.id, 'added', 5, 2000);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await state.importSession(s.id)).toEqual(s);
    expect(await state.importSessionImageIds(s.id)).toEqual([]);
    await state.transaction(async (tx) => {
      await tx.countImport(s.id, 'added', 5, 2000);
      await tx.countImport(s.id, 'added', 6, 2001);
    });
    expect((await state.importSession(s.id))?.filesAdded).toBe(2);
    expect(await state.importSessionImageIds(s.id)).toEqual([5, 6]);
  });

  it('count every file of files counted at once', async () => {
    state = await engine.open();
    const s = await state.insertImportSession({ name: 'upload', userId: 7, user: 'bob' }, 1000);
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        state.countImport(s.id, i % 4 ? 'added' : 'rejected', i % 4 ? i : undefined, 2000 + i),
      ),
    );
    expect(await state.importSession(s.id)).toMatchObject({
      filesImported: 30,
      filesAdded: 30,
      filesRejected: 10,
    });
    expect(await state.importSessionImageIds(s.id)).toHaveLength(30);
  });
});

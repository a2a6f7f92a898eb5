import { afterEach, describe, expect, it } from 'vitest';
import type { StateStore } from '../storage/state-store.js';
import { BadRequestError } from '../errors.js';
import { stateEngine } from '../../test/helpers/state-engines.js';

// The SCUs part on SQLite (embedded project) and on PostgreSQL (scale project).
const engine = stateEngine();
let state: StateStore;
let other: StateStore | undefined;
afterEach(async () => {
  await other?.close().catch(() => undefined);
  other = undefined;
  await state?.close().catch(() => undefined);
});

describe('SCUs', () => {
  it('are unique by name and by host and port, refused with a 400 naming what is taken', async () => {
    state = await engine.open();
    const pacs = await state.insertScu({ name: 'pacs', aeTitle: 'PACS', host: 'pacs.local', port: 104 });
    expect(pacs).toEqual({ id: 1, name: 'pacs', aeTitle: 'PACS', host: 'pacs.local', port: 104 });
    const taken = state.insertScu({ name: 'pacs', aeTitle: 'X', host: 'other', port: 104 });
    await expect(taken).rejects.toThrow(BadRequestError);
    await expect(taken).rejects.toThrow('an SCU named "pacs" already exists');
    await expect(
      state.insertScu({ name: 'pacs2', aeTitle: 'X', host: 'pacs.local', port: 104 }),
    ).rejects.toThrow('SCU "pacs" already sends to pacs.local:104');
    // Both taken: the name is named.
    await expect(
      state.insertScu({ name: 'pacs', aeTitle: 'X', host: 'pacs.local', port: 104 }),
    ).rejects.toThrow(/named "pacs"/);
    const second = await state.insertScu({ name: 'PACS', aeTitle: 'X', host: 'pacs.local', port: 105 });
    expect(second.id).toBe(2);
    expect(await state.listScus(0, 10)).toEqual([pacs, second]);
    expect(await state.listScus(1, Number.MAX_SAFE_INTEGER)).toEqual([second]);
    expect(await state.scu(second.id)).toEqual(second);
    expect(await state.deleteScu(pacs.id)).toBe(true);
    expect(await state.deleteScu(pacs.id)).toBe(false);
    expect(await state.scu(pacs.id)).toBeUndefined();
    // Free again, under a new id.
    expect((await state.insertScu({ name: 'pacs', aeTitle: 'PACS', host: 'pacs.local', port: 104 })).id).toBe(
      3,
    );
  });

  it('inserted at once through two stores: one is taken, the other refused with a 400', async () => {
    state = await engine.open();
    other = await engine.reopen(state);
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        (i % 2 ? other! : state).insertScu({
          name: `scu${i % 3}`,
          aeTitle: 'A',
          host: 'h',
          port: 100 + (i % 2),
        }),
      ),
    );
    // Names scu0, scu1, scu2, scu0, scu1, scu2 on ports 100, 101, 100, 101, 100, 101.
    const inserted = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    expect(inserted.length + refused.length).toBe(6);
    for (const err of refused) expect(err).toBeInstanceOf(BadRequestError);
    expect(await state.listScus(0, 10)).toEqual(inserted.sort((a, b) => a.id - b.id));
    expect(new Set(inserted.map((s) => s.name)).size).toBe(inserted.length);
    expect(new Set(inserted.map((s) => s.port)).size).toBe(inserted.length);
  });
});

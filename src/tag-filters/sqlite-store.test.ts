import { afterEach, describe, expect, it } from 'vitest';
import type { StateStore } from '../storage/state-store.js';
import { stateEngine } from '../../test/helpers/state-engines.js';

// SQLite in the embedded project, PostgreSQL (a fresh database per store) in the scale project.
const engine = stateEngine();
let state: StateStore;
afterEach(async () => state?.close().catch(() => undefined));

describe('tag filters in the state store', () => {
  it('keep filters, tag paths and associations across a restart; deleting a filter cascades', async () => {
    state = await engine.open();
    const strip = await state.insertTagFilter({ name: 'strip', tagFilterType: 'BLACKLIST' });
    const keep = await state.insertTagFilter({ name: 'keep', tagFilterType: 'WHITELIST' });
    await state.insertTagFilterTagPath(strip.id, '(0010,0010)');
    await state.insertTagFilterTagPath(strip.id, '(0008,1140)[*].(0008,1155)');
    const a = await state.insertSourceTagFilter({
      sourceType: 'scp',
      sourceName: 'SCP',
      sourceId: 1,
      tagFilterId: strip.id,
    });
    // The same source and filter twice is one association.
    expect(
      await state.insertSourceTagFilter({
        sourceType: 'scp',
        sourceName: 'other',
        sourceId: 1,
        tagFilterId: strip.id,
      }),
    ).toEqual(a);
    await state.insertSourceTagFilter({
      sourceType: 'scp',
      sourceName: 'SCP',
      sourceId: 1,
      tagFilterId: keep.id,
    });
    await state.insertSourceTagFilter({
      sourceType: 'user',
      sourceName: 'u',
      sourceId: 3,
      tagFilterId: keep.id,
    });
    await state.close();

    state = await engine.reopen(state);
    expect(await state.associatedTagFilters()).toEqual([
      {
        source: { sourceType: 'scp', sourceId: 1 },
        filter: strip,
        tagPaths: ['(0010,0010)', '(0008,1140)[*].(0008,1155)'],
      },
      { source: { sourceType: 'scp', sourceId: 1 }, filter: keep, tagPaths: [] },
      { source: { sourceType: 'user', sourceId: 3 }, filter: keep, tagPaths: [] },
    ]);
    expect(await state.deleteSourceTagFiltersOf({ sourceType: 'user', sourceId: 3 })).toBe(1);
    expect(await state.deleteTagFilter(strip.id)).toBe(true);
    expect(await state.deleteTagFilter(strip.id)).toBe(false);
    expect(await state.listTagFilterTagPaths(strip.id, 0, 10)).toEqual([]);
    expect((await state.listSourceTagFilters(0, 10)).map((s) => s.tagFilterName)).toEqual(['keep']);
  });

  it('lists, pages and deletes filters and tag paths, only through their own filter', async () => {
    state = await engine.open();
    const a = await state.insertTagFilter({ name: 'a', tagFilterType: 'WHITELIST' });
    const b = await state.insertTagFilter({ name: 'b', tagFilterType: 'BLACKLIST' });
    expect(await state.listTagFilters(0, 10)).toEqual([a, b]);
    expect(await state.listTagFilters(1, 10)).toEqual([b]);
    expect(await state.tagFilter(b.id)).toEqual(b);
    expect(await state.tagFilter(999)).toBeUndefined();
    const paths: Array<Awaited<ReturnType<StateStore['insertTagFilterTagPath']>>> = [];
    for (const tagPath of ['(0010,0010)', '(0010,0020)', '(0010,0030)'])
      paths.push(await state.insertTagFilterTagPath(a.id, tagPath));
    expect(paths.map((p) => p.tagFilterId)).toEqual([a.id, a.id, a.id]);
    expect(await state.listTagFilterTagPaths(a.id, 1, 1)).toEqual([paths[1]]);
    expect(await state.deleteTagFilterTagPath(b.id, paths[0]!.id)).toBe(false);
    expect(await state.deleteTagFilterTagPath(a.id, paths[0]!.id)).toBe(true);
    expect(await state.listTagFilterTagPaths(a.id, 0, 10)).toEqual(paths.slice(1));
    const association = await state.insertSourceTagFilter({
      sourceType: 'box',
      sourceName: 'Box',
      sourceId: 7,
      tagFilterId: b.id,
    });
    expect(association).toMatchObject({
      sourceType: 'box',
      sourceName: 'Box',
      sourceId: 7,
      tagFilterName: 'b',
    });
    expect(await state.listSourceTagFilters(0, 10)).toEqual([association]);
    expect(await state.deleteSourceTagFilter(association.id)).toBe(true);
    expect(await state.deleteSourceTagFilter(association.id)).toBe(false);
    expect(await state.deleteSourceTagFiltersOf({ sourceType: 'box', sourceId: 7 })).toBe(0);
  });

  it('makes one association of the same source and filter added by many callers at once', async () => {
    state = await engine.open();
    const filter = await state.insertTagFilter({ name: 'strip', tagFilterType: 'BLACKLIST' });
    const added = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        state.insertSourceTagFilter({
          sourceType: 'scp',
          sourceName: `SCP ${i}`,
          sourceId: 1,
          tagFilterId: filter.id,
        }),
      ),
    );
    expect(new Set(added.map((a) => a.id)).size).toBe(1);
    expect(await state.listSourceTagFilters(0, 10)).toEqual([added[0]]);
  });
});

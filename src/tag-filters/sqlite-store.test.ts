import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteState } from '../storage/sqlite-state.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-state-filters-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

describe('tag filters in the state store', () => {
  it('keep filters, tag paths and associations across a restart; deleting a filter cascades', async () => {
    const path = join(dir, 'state.sqlite');
    let state = openSqliteState(path);
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

    state = openSqliteState(path);
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
    await state.close();
  });
});

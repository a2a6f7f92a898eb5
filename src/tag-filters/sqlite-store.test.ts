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
  it('keep filters, tag paths and associations across a restart; deleting a filter cascades', () => {
    const path = join(dir, 'state.sqlite');
    let state = openSqliteState(path);
    const strip = state.insertTagFilter({ name: 'strip', tagFilterType: 'BLACKLIST' });
    const keep = state.insertTagFilter({ name: 'keep', tagFilterType: 'WHITELIST' });
    state.insertTagFilterTagPath(strip.id, '(0010,0010)');
    state.insertTagFilterTagPath(strip.id, '(0008,1140)[*].(0008,1155)');
    const a = state.insertSourceTagFilter({
      sourceType: 'scp',
      sourceName: 'SCP',
      sourceId: 1,
      tagFilterId: strip.id,
    });
    // The same source and filter twice is one association.
    expect(
      state.insertSourceTagFilter({
        sourceType: 'scp',
        sourceName: 'other',
        sourceId: 1,
        tagFilterId: strip.id,
      }),
    ).toEqual(a);
    state.insertSourceTagFilter({ sourceType: 'scp', sourceName: 'SCP', sourceId: 1, tagFilterId: keep.id });
    state.insertSourceTagFilter({ sourceType: 'user', sourceName: 'u', sourceId: 3, tagFilterId: keep.id });
    state.close();

    state = openSqliteState(path);
    expect(state.associatedTagFilters()).toEqual([
      {
        source: { sourceType: 'scp', sourceId: 1 },
        filter: strip,
        tagPaths: ['(0010,0010)', '(0008,1140)[*].(0008,1155)'],
      },
      { source: { sourceType: 'scp', sourceId: 1 }, filter: keep, tagPaths: [] },
      { source: { sourceType: 'user', sourceId: 3 }, filter: keep, tagPaths: [] },
    ]);
    expect(state.deleteSourceTagFiltersOf({ sourceType: 'user', sourceId: 3 })).toBe(1);
    expect(state.deleteTagFilter(strip.id)).toBe(true);
    expect(state.deleteTagFilter(strip.id)).toBe(false);
    expect(state.listTagFilterTagPaths(strip.id, 0, 10)).toEqual([]);
    expect(state.listSourceTagFilters(0, 10).map((s) => s.tagFilterName)).toEqual(['keep']);
    state.close();
  });
});

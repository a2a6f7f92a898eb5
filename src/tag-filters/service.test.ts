import { describe, expect, it } from 'vitest';
import { TagFilterService } from './service.js';
import type { TagFilterStore } from './store.js';

const SCP = { sourceType: 'scp' as const, sourceId: 1 };
type Associated = Awaited<ReturnType<TagFilterStore['associatedTagFilters']>>;

/** A store whose `associatedTagFilters` answers when the test says so, as a networked store might. */
function slowStore() {
  let rows: Associated = [];
  const pending: Array<() => void> = [];
  const store = {
    associatedTagFilters: () => {
      const answer = rows;
      return new Promise<Associated>((resolve) => pending.push(() => resolve(answer)));
    },
    deleteSourceTagFiltersOf: async () => 1,
  } as unknown as TagFilterStore;
  return {
    store,
    set: (next: Associated) => (rows = next),
    answer: () => pending.splice(0).forEach((resolve) => resolve()),
  };
}

describe('TagFilterService cache', () => {
  it('drops an answer that was asked for before a change, instead of keeping it', async () => {
    const s = slowStore();
    const service = new TagFilterService(s.store);
    const before = service.filtersFor(SCP); // asks the store: no filters yet
    s.set([
      { source: SCP, filter: { id: 1, name: 'f', tagFilterType: 'BLACKLIST' }, tagPaths: ['(0010,0010)'] },
    ]);
    await service.forgetSource({ sourceType: 'box', sourceId: 9 }); // any change drops the cache
    s.answer();
    expect(await before).toEqual([]);
    const after = service.filtersFor(SCP);
    s.answer();
    expect((await after).map((f) => f.name)).toEqual(['f']);
  });
});

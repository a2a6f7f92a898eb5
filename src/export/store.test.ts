import { afterEach, describe, expect, it } from 'vitest';
import type { StateStore } from '../storage/state-store.js';
import { stateEngine } from '../../test/helpers/state-engines.js';

// The export sets part on SQLite (embedded project) and on PostgreSQL (scale project).
const engine = stateEngine();
let state: StateStore;
afterEach(async () => state?.close().catch(() => undefined));

describe('export sets', () => {
  it('keep their image ids in order until they expire', async () => {
    state = await engine.open();
    const big = 2 ** 40;
    const a = await state.insertExportSet([3, 1, big], 1_700_000_000_000);
    expect(a).toEqual({ id: 1, imageIds: [3, 1, big], createdAt: 1_700_000_000_000 });
    const b = await state.insertExportSet([], 1_700_000_000_500);
    const c = await state.insertExportSet([7], 1_700_000_001_000);
    await state.close();
    state = await engine.reopen(state);
    expect(await state.exportSet(a.id)).toEqual(a);
    expect(await state.exportSet(b.id)).toEqual({ id: 2, imageIds: [], createdAt: 1_700_000_000_500 });
    expect(await state.exportSet(99)).toBeUndefined();
    expect(await state.deleteExportSetsCreatedBefore(1_700_000_000_500)).toBe(1);
    expect(await state.exportSet(a.id)).toBeUndefined();
    expect(await state.deleteExportSetsCreatedBefore(1_700_000_001_001)).toBe(2);
    expect(await state.exportSet(c.id)).toBeUndefined();
    expect(await state.deleteExportSetsCreatedBefore(Number.MAX_SAFE_INTEGER)).toBe(0);
    expect((await state.insertExportSet([1], 1)).id).toBe(4);
  });
});

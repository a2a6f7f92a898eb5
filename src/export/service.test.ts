import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteState } from '../storage/sqlite-state.js';
import { loadConfig } from '../config.js';
import { ExportSetService } from './service.js';
import type { StateStore } from '../storage/state-store.js';

let state: StateStore;
const clock = { now: Date.UTC(2026, 0, 1) };
beforeEach(() => {
  state = openSqliteState(':memory:');
});
afterEach(async () => await state.close());

describe('ExportSetService', () => {
  it('keeps a set (duplicates removed, order kept) until its time is up, then forgets it', async () => {
    const sets = new ExportSetService(state, { ttlSecs: 3600, now: () => clock.now });
    const id = await sets.create([5, 3, 5, 9]);
    expect(await sets.imageIds(id)).toEqual([5, 3, 9]);
    clock.now += 3600 * 1000;
    expect(await sets.imageIds(id)).toEqual([5, 3, 9]);
    clock.now += 1;
    expect(await sets.imageIds(id)).toBeUndefined();
    expect(await sets.imageIds(id + 100)).toBeUndefined();
  });

  it('removes expired sets from the store when a new one is made', async () => {
    const sets = new ExportSetService(state, { ttlSecs: 60, now: () => clock.now });
    const old = await sets.create([1]);
    clock.now += 61_000;
    const fresh = await sets.create([2]);
    expect(await state.exportSet(old)).toBeUndefined();
    expect(await state.exportSet(fresh)).toMatchObject({ imageIds: [2], createdAt: clock.now });
    expect(fresh).not.toBe(old);
  });
});

describe('SLUICE_EXPORT_SET_TTL_SECS', () => {
  it('defaults to Slicebox’s 6 hours and is checked', () => {
    expect(loadConfig({}).exportSetTtlSecs).toBe(21_600);
    expect(loadConfig({ SLUICE_EXPORT_SET_TTL_SECS: '120' }).exportSetTtlSecs).toBe(120);
    expect(() => loadConfig({ SLUICE_EXPORT_SET_TTL_SECS: '10' })).toThrow(/at least 60/);
    expect(() => loadConfig({ SLUICE_EXPORT_SET_TTL_SECS: 'soon' })).toThrow(/number of seconds/);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import type { StateStore } from '../storage/state-store.js';
import type { LogEntry } from './store.js';
import { stateEngine } from '../../test/helpers/state-engines.js';

// The log part on SQLite (embedded project) and on PostgreSQL (scale project).
const engine = stateEngine();
let state: StateStore;
afterEach(async () => state?.close().catch(() => undefined));

describe('the log', () => {
  it('lists newest first, narrowed to a subject and/or a type, in pages; deletes and clears', async () => {
    state = await engine.open();
    const entries: LogEntry[] = [];
    const types = ['INFO', 'WARN', 'ERROR', 'DEFAULT'] as const;
    for (let i = 0; i < 8; i++)
      entries.push(
        await state.insertLogEntry({
          created: 1_700_000_000_000 + i,
          entryType: types[i % 4]!,
          subject: i % 2 ? 'SCP' : 'Box',
          message: `entry ${i}`,
        }),
      );
    expect(entries[0]).toEqual({
      id: 1,
      created: 1_700_000_000_000,
      entryType: 'INFO',
      subject: 'Box',
      message: 'entry 0',
    });
    const list = async (opts: {
      startIndex?: number;
      count?: number;
      subject?: string;
      entryType?: LogEntry['entryType'];
    }) => (await state.listLogEntries({ startIndex: 0, count: 100, ...opts })).map((e) => e.message);
    expect(await list({})).toEqual(entries.map((e) => e.message).reverse());
    expect(await state.listLogEntries({ startIndex: 0, count: 1 })).toEqual([entries[7]]);
    expect(await list({ startIndex: 2, count: 3 })).toEqual(['entry 5', 'entry 4', 'entry 3']);
    expect(await list({ count: Number.MAX_SAFE_INTEGER })).toHaveLength(8);
    expect(await list({ subject: 'SCP' })).toEqual(['entry 7', 'entry 5', 'entry 3', 'entry 1']);
    expect(await list({ subject: 'scp' })).toEqual([]);
    expect(await list({ subject: '' })).toEqual([]);
    expect(await list({ entryType: 'WARN' })).toEqual(['entry 5', 'entry 1']);
    expect(await list({ subject: 'SCP', entryType: 'WARN', startIndex: 1 })).toEqual(['entry 1']);
    expect(await list({ subject: 'Box', entryType: 'WARN' })).toEqual([]);
    await expect(
      state.insertLogEntry({ created: 1, entryType: 'DEBUG' as 'INFO', subject: 'x', message: 'y' }),
    ).rejects.toThrow(/check constraint/i);

    expect(await state.deleteLogEntry(entries[7]!.id)).toBe(true);
    expect(await state.deleteLogEntry(entries[7]!.id)).toBe(false);
    await state.close();
    state = await engine.reopen(state);
    expect(await list({ count: 1 })).toEqual(['entry 6']);
    expect(await state.clearLog()).toBe(7);
    expect(await state.clearLog()).toBe(0);
    // Ids are not given twice.
    expect(
      (await state.insertLogEntry({ created: 1, entryType: 'INFO', subject: 's', message: 'm' })).id,
    ).toBeGreaterThan(entries[7]!.id);
  });
});

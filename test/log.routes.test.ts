/**
 * /api/log through app.request() on real adapters: newest first, paging, subject and type filters, deleting
 * one entry or all; and, on a running engine, the entries ingest failures write.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN, basic, createTestApp, type TestApp } from './helpers/app.js';
import { startTestEngine } from './helpers/engine.js';

let t: TestApp;
beforeEach(async () => {
  t = await createTestApp();
});
afterEach(async () => t?.cleanup());

const asAdmin = (path: string, init: RequestInit = {}) =>
  t.app.request(path, { ...init, headers: { ...basic(ADMIN.user, ADMIN.password), ...init.headers } });
const messages = async (query = '') =>
  ((await (await asAdmin(`/api/log${query}`)).json()) as Array<{ message: string }>).map((e) => e.message);

describe('/api/log', () => {
  it('answers Slicebox log entries newest first, paged and filtered', async () => {
    const first = await t.state.insertLogEntry({
      created: 1000,
      entryType: 'INFO',
      subject: 'SCU',
      message: 'one',
    });
    await t.state.insertLogEntry({ created: 2000, entryType: 'WARN', subject: 'Forwarding', message: 'two' });
    await t.state.insertLogEntry({
      created: 3000,
      entryType: 'ERROR',
      subject: 'Forwarding',
      message: 'three',
    });
    const all = await (await asAdmin('/api/log')).json();
    expect(all).toEqual([
      { id: first.id + 2, created: 3000, entryType: 'ERROR', subject: 'Forwarding', message: 'three' },
      { id: first.id + 1, created: 2000, entryType: 'WARN', subject: 'Forwarding', message: 'two' },
      { id: first.id, created: 1000, entryType: 'INFO', subject: 'SCU', message: 'one' },
    ]);
    expect(await messages('?startindex=1&count=1')).toEqual(['two']);
    expect(await messages('?subject=Forwarding')).toEqual(['three', 'two']);
    expect(await messages('?subject=Forwarding&type=WARN')).toEqual(['two']);
    expect(await messages('?type=INFO')).toEqual(['one']);
    expect((await asAdmin('/api/log?type=LOUD')).status).toBe(400);
    expect((await asAdmin('/api/log?count=-1')).status).toBe(400);
  });

  it('deletes one entry or all of them', async () => {
    const a = await t.state.insertLogEntry({ created: 1, entryType: 'INFO', subject: 's', message: 'a' });
    await t.state.insertLogEntry({ created: 2, entryType: 'INFO', subject: 's', message: 'b' });
    expect((await asAdmin(`/api/log/${a.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await asAdmin(`/api/log/${a.id}`, { method: 'DELETE' })).status).toBe(204);
    expect(await messages()).toEqual(['b']);
    expect((await asAdmin('/api/log', { method: 'DELETE' })).status).toBe(204);
    expect(await messages()).toEqual([]);
  });
});

describe('the log of a running engine', () => {
  it('records an ingest failure without patient data', async () => {
    const engine = await startTestEngine();
    try {
      const r = await engine.api('/api/images', { method: 'POST', body: 'not DICOM at all' });
      expect(r.status).toBe(400);
      const entries = (await (await engine.api('/api/log?subject=Ingest')).json()) as Array<{
        entryType: string;
        message: string;
      }>;
      expect(entries).toHaveLength(1);
      expect(entries[0].entryType).toBe('WARN');
      expect(entries[0].message).toMatch(
        /^Quarantined an object from user \d+ \(pipeline default, sources\[1\]\): DICOM\.INVALID: Invalid DICOM data: .*; quarantine id [0-9a-f-]{36}$/,
      );
    } finally {
      await engine.cleanup();
    }
  });
});

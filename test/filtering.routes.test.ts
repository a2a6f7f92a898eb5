/**
 * Slicebox's /api/filtering routes: filters, their tag paths (TagTree JSON) and their associations with sources.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN, basic, createTestApp, type TestApp } from './helpers/app.js';

let t: TestApp;
beforeEach(async () => {
  t = await createTestApp();
});
afterEach(async () => t?.cleanup());

const call = (method: string, path: string, body?: unknown) =>
  t.app.request(`/api/filtering${path}`, {
    method,
    headers: { ...basic(ADMIN.user, ADMIN.password), 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
const json = async (r: Response) => (await r.json()) as any;

async function createFilter(name = 'f', tagFilterType = 'BLACKLIST') {
  const r = await call('POST', '/filters', { id: -1, name, tagFilterType });
  expect(r.status).toBe(201);
  return json(r);
}

describe('/api/filtering/filters', () => {
  it('creates (duplicate names allowed), lists with paging, deletes', async () => {
    const a = await createFilter('same', 'WHITELIST');
    const b = await createFilter('same', 'BLACKLIST');
    expect(a).toEqual({ id: a.id, name: 'same', tagFilterType: 'WHITELIST' });
    expect(b.id).not.toBe(a.id);
    expect(await json(await call('GET', '/filters'))).toEqual([a, b]);
    expect(await json(await call('GET', '/filters?startindex=1&count=1'))).toEqual([b]);
    expect((await call('DELETE', `/filters/${a.id}`)).status).toBe(204);
    expect((await call('DELETE', `/filters/${a.id}`)).status).toBe(204);
    expect(await json(await call('GET', '/filters'))).toEqual([b]);
  });

  it('answers 400 to bad input', async () => {
    expect((await call('POST', '/filters', { id: -1, name: 'x', tagFilterType: 'GREYLIST' })).status).toBe(
      400,
    );
    expect((await call('POST', '/filters', { id: -1, tagFilterType: 'WHITELIST' })).status).toBe(400);
    expect((await call('POST', '/filters', '{not json')).status).toBe(400);
    expect((await call('GET', '/filters?count=-1')).status).toBe(400);
    expect((await call('DELETE', '/filters/abc')).status).toBe(400);
  });
});

describe('/api/filtering/filters/{id}/tagpaths', () => {
  it('adds tag trees given by tag or by keyword, answers them as TagTree JSON, deletes them', async () => {
    const f = await createFilter();
    const byName = await call('POST', `/filters/${f.id}/tagpaths`, {
      id: -1,
      tagFilterId: f.id,
      tagPath: { name: 'PatientName' },
    });
    expect(byName.status).toBe(201);
    expect(await json(byName)).toMatchObject({
      tagFilterId: f.id,
      tagPath: { tag: 0x00100010, name: 'PatientName' },
    });
    const nested = await json(
      await call('POST', `/filters/${f.id}/tagpaths`, {
        tagPath: { tag: 0x00081155, previous: { name: 'ReferencedImageSequence', item: '*' } },
      }),
    );
    expect(nested.tagPath).toEqual({
      tag: 0x00081155,
      name: 'ReferencedSOPInstanceUID',
      previous: { tag: 0x00081140, name: 'ReferencedImageSequence', item: '*' },
    });
    const list = await json(await call('GET', `/filters/${f.id}/tagpaths`));
    expect(list.map((p: any) => p.id)).toEqual([expect.any(Number), nested.id]);
    expect(await json(await call('GET', `/filters/${f.id}/tagpaths?startindex=1`))).toEqual([nested]);
    expect((await call('DELETE', `/filters/${f.id}/tagpaths/${nested.id}`)).status).toBe(204);
    expect(await json(await call('GET', `/filters/${f.id}/tagpaths`))).toHaveLength(1);
  });

  it('answers 400 to invalid trees and 404 for an unknown filter', async () => {
    const f = await createFilter();
    for (const tagPath of [
      { name: 'NoSuchKeyword' },
      {},
      { tag: -1 },
      { tag: 'x' },
      { tag: 0x00081155, previous: { name: 'ReferencedImageSequence' } }, // no item
      { name: 'ReferencedImageSequence', item: '0' },
    ])
      expect(
        (await call('POST', `/filters/${f.id}/tagpaths`, { tagPath })).status,
        JSON.stringify(tagPath),
      ).toBe(400);
    expect((await call('POST', `/filters/${f.id}/tagpaths`, { id: -1 })).status).toBe(400);
    expect((await call('POST', '/filters/999/tagpaths', { tagPath: { name: 'PatientName' } })).status).toBe(
      404,
    );
    expect((await call('GET', '/filters/999/tagpaths')).status).toBe(404);
    expect((await call('DELETE', '/filters/999/tagpaths/1')).status).toBe(404);
    expect((await call('DELETE', `/filters/${f.id}/tagpaths/x`)).status).toBe(400);
  });
});

describe('/api/filtering/associations', () => {
  it('associates filters with sources, names known sources, and deleting a filter removes its associations', async () => {
    const f = await createFilter('strip');
    const g = await createFilter('keep', 'WHITELIST');
    const admin = (await t.users.all()).find((u) => u.user === ADMIN.user)!;
    const r = await call('POST', '/associations', {
      id: -1,
      sourceType: 'user',
      sourceName: 'whatever',
      sourceId: admin.id,
      tagFilterId: f.id,
      tagFilterName: 'ignored',
    });
    expect(r.status).toBe(201);
    const a = await json(r);
    expect(a).toEqual({
      id: a.id,
      sourceType: 'user',
      sourceName: ADMIN.user,
      sourceId: admin.id,
      tagFilterId: f.id,
      tagFilterName: 'strip',
    });
    const b = await json(
      await call('POST', '/associations', {
        sourceType: 'scp',
        sourceName: 'SCP',
        sourceId: 1,
        tagFilterId: g.id,
      }),
    );
    expect(b.sourceName).toBe('SCP');
    expect(await json(await call('GET', '/associations'))).toEqual([a, b]);
    expect(await t.tagFilters.filtersFor({ sourceType: 'scp', sourceId: 1 })).toHaveLength(1);
    expect((await call('DELETE', `/filters/${g.id}`)).status).toBe(204);
    expect(await json(await call('GET', '/associations'))).toEqual([a]);
    expect(await t.tagFilters.filtersFor({ sourceType: 'scp', sourceId: 1 })).toHaveLength(0);
    expect((await call('DELETE', `/associations/${a.id}`)).status).toBe(204);
    expect((await call('DELETE', `/associations/${a.id}`)).status).toBe(204);
    expect(await json(await call('GET', '/associations'))).toEqual([]);
  });

  it('answers 404 for an unknown filter and 400 to bad input', async () => {
    expect(
      (
        await call('POST', '/associations', {
          sourceType: 'scp',
          sourceName: 'x',
          sourceId: 1,
          tagFilterId: 99,
        })
      ).status,
    ).toBe(404);
    const f = await createFilter();
    expect(
      (await call('POST', '/associations', { sourceType: 'nowhere', sourceId: 1, tagFilterId: f.id })).status,
    ).toBe(400);
    expect((await call('POST', '/associations', { sourceType: 'scp', tagFilterId: f.id })).status).toBe(400);
    expect((await call('GET', '/associations?startindex=x')).status).toBe(400);
    expect((await call('DELETE', '/associations/x')).status).toBe(400);
  });

  it("removes a user's associations when the user is deleted", async () => {
    const user = await t.users.create({ user: 'uploader', role: 'USER', password: 'pw' });
    const f = await createFilter();
    await call('POST', '/associations', { sourceType: 'user', sourceId: user.id, tagFilterId: f.id });
    await call('POST', '/associations', { sourceType: 'scp', sourceId: 1, tagFilterId: f.id });
    const r = await t.app.request(`/api/users/${user.id}`, {
      method: 'DELETE',
      headers: basic(ADMIN.user, ADMIN.password),
    });
    expect(r.status).toBe(204);
    const left = await json(await call('GET', '/associations'));
    expect(left.map((a: any) => a.sourceType)).toEqual(['scp']);
  });

  it('needs an administrator to change filters, a user to read them', async () => {
    await t.users.create({ user: 'reader', role: 'USER', password: 'reader-pw' });
    const headers = basic('reader', 'reader-pw');
    expect((await t.app.request('/api/filtering/filters', { headers })).status).toBe(200);
    expect(
      (
        await t.app.request('/api/filtering/filters', {
          method: 'POST',
          headers,
          body: JSON.stringify({ name: 'x', tagFilterType: 'WHITELIST' }),
        })
      ).status,
    ).toBe(403);
  });
});

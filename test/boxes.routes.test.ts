/**
 * `/api/boxes` and `/api/transactions/{token}` answers, through app.request() (no server): pairing rules,
 * validation, 404s, and the token routes' status and poll answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, basic, createTestApp, type TestApp } from './helpers/app.js';
import { makeInstance } from './fixtures/dicom-fixtures.js';
import { parseHeader } from '../src/dicom/header.js';

let t: TestApp;
const admin = basic(ADMIN.user, ADMIN.password);
const call = (path: string, init: RequestInit = {}) =>
  t.app.request(path, { ...init, headers: { ...admin, ...(init.headers ?? {}) } });
const postJson = (path: string, body: unknown) => call(path, { method: 'POST', body: JSON.stringify(body) });

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t?.cleanup());

describe('/api/boxes', () => {
  it('creates a POLL box with a token URL; the same name answers it again', async () => {
    const r = await postJson('/api/boxes/createconnection', {
      name: 'partner',
      defaultProfile: { options: [{ name: 'RETAIN_UIDS' }] },
    });
    expect(r.status).toBe(201);
    const box = (await r.json()) as Record<string, unknown> & { token: string; id: number };
    expect(box).toMatchObject({
      name: 'partner',
      sendMethod: 'POLL',
      baseUrl: `http://127.0.0.1:5000/api/transactions/${box.token}`,
      online: false,
    });
    expect(box.token).toMatch(/^[0-9a-f-]{36}$/);
    expect((box.defaultProfile as { options: Array<{ name: string; rank: number }> }).options).toEqual([
      expect.objectContaining({ name: 'BASIC_PROFILE' }),
      expect.objectContaining({ name: 'RETAIN_UIDS', rank: 120 }),
    ]);
    const again = await postJson('/api/boxes/createconnection', { name: 'partner' });
    expect(((await again.json()) as { id: number }).id).toBe(box.id);
    expect((await postJson('/api/boxes/createconnection', { name: ' ' })).status).toBe(400);
    expect(
      (
        await postJson('/api/boxes/createconnection', {
          name: 'x',
          defaultProfile: { options: [{ name: 'NOPE' }] },
        })
      ).status,
    ).toBe(400);
  });

  it('connects a PUSH box to a token URL, and refuses malformed URLs and name clashes', async () => {
    const url = 'http://127.0.0.1:1/api/transactions/0f8fad5b-d9cb-469f-a165-70867728950e';
    const r = await postJson('/api/boxes/connect', { name: 'remote', baseUrl: url });
    expect(r.status).toBe(201); // unreachable for now: accepted, offline
    expect(await r.json()).toMatchObject({
      sendMethod: 'PUSH',
      token: '0f8fad5b-d9cb-469f-a165-70867728950e',
    });
    for (const [body, reason] of [
      [{ name: 'n1', baseUrl: 'not a url' }, /not a URL/],
      [{ name: 'n2', baseUrl: 'ftp://h/api/transactions/0f8fad5b-d9cb-469f-a165-70867728950e' }, /http/],
      [{ name: 'n3', baseUrl: 'http://h/api/transactions/not-a-token' }, /UUID/],
      [{ name: 'partner', baseUrl: url }, /POLL box named "partner"/],
      [{ name: 'remote', baseUrl: url.replace('0f8', '1f8') }, /another URL/],
    ] as const) {
      const answer = await postJson('/api/boxes/connect', body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(await answer.text()).toMatch(reason);
    }
    expect((await postJson('/api/boxes/createconnection', { name: 'remote' })).status).toBe(400);
  });

  it('lists boxes with paging, sends only to boxes and images that exist, deletes idempotently', async () => {
    const boxes = (await (await call('/api/boxes?count=1')).json()) as Array<{ id: number }>;
    expect(boxes).toHaveLength(1);
    expect((await call('/api/boxes?count=-1')).status).toBe(400);
    const send = (id: number, body: unknown) => postJson(`/api/boxes/${id}/send`, body);
    expect((await send(999, { imageTagValuesSet: [{ imageId: 1, tagValues: [] }] })).status).toBe(404);
    const missing = await send(boxes[0]!.id, { imageTagValuesSet: [{ imageId: 4242, tagValues: [] }] });
    expect(missing.status).toBe(400);
    expect(await missing.text()).toMatch(/no image with id 4242/);
    expect((await send(boxes[0]!.id, { imageTagValuesSet: [] })).status).toBe(400);
    expect((await send(boxes[0]!.id, {})).status).toBe(400);
    expect((await call('/api/boxes/999', { method: 'DELETE' })).status).toBe(204);
    expect((await call('/api/boxes/outgoing/999', { method: 'DELETE' })).status).toBe(204);
    expect((await call('/api/boxes/incoming/999', { method: 'DELETE' })).status).toBe(204);
    expect((await call('/api/boxes/outgoing/999/images')).status).toBe(404);
    expect((await call('/api/boxes/incoming/999/images')).status).toBe(404);
    expect(await (await call('/api/boxes/outgoing')).json()).toEqual([]);
    expect(await (await call('/api/boxes/incoming')).json()).toEqual([]);
  });

  it('shows box tokens to administrators only', async () => {
    await t.users.create({ user: 'reader', password: 'reader-password', role: 'USER' });
    const asUser = (await (
      await t.app.request('/api/boxes', { headers: basic('reader', 'reader-password') })
    ).json()) as Array<{ name: string; token: string; baseUrl: string }>;
    expect(asUser.length).toBeGreaterThan(0);
    expect(asUser.every((b) => b.token === '' && b.baseUrl === '' && b.name)).toBe(true);
    const asAdmin = (await (await call('/api/boxes')).json()) as Array<{ token: string }>;
    expect(asAdmin.every((b) => b.token.length === 36)).toBe(true);
  });

  it('sends images with the box default profile (what forwarding rules call)', async () => {
    const box = (await (
      await postJson('/api/boxes/createconnection', {
        name: 'forward-target',
        defaultProfile: { options: [{ name: 'RETAIN_DEVICE_IDENTITY' }] },
      })
    ).json()) as { id: number };
    const { image } = await t.index.upsert({
      header: parseHeader(makeInstance()),
      origin: { sourceType: 'user', sourceId: 1, sourceName: 'admin' },
      size: 1,
    });
    const sent = await t.boxes.sendWithDefaultProfile(box.id, [image.id]);
    expect(sent).toMatchObject({ boxId: box.id, totalImageCount: 1, status: 'WAITING' });
    expect(sent.profile).toEqual(['BASIC_PROFILE', 'RETAIN_DEVICE_IDENTITY']);
    const listed = (await (await call('/api/boxes/outgoing')).json()) as Array<{
      id: number;
      profile: { options: Array<{ name: string }> };
    }>;
    expect(listed.find((o) => o.id === sent.id)!.profile.options.map((o) => o.name)).toEqual([
      'BASIC_PROFILE',
      'RETAIN_DEVICE_IDENTITY',
    ]);
    expect((await t.boxes.list()).map((b) => b.name)).toContain('forward-target');
    const images = (await (await call(`/api/boxes/outgoing/${sent.id}/images`)).json()) as Array<{
      id: number;
    }>;
    expect(images.map((i) => i.id)).toEqual([image.id]);
  });

  it('lists boxes among the sources, and a deleted box leaves them', async () => {
    const r = await postJson('/api/boxes/createconnection', { name: 'short-lived' });
    const box = (await r.json()) as { id: number };
    const names = async () =>
      ((await (await call('/api/sources')).json()) as Array<{ sourceType: string; sourceName: string }>)
        .filter((s) => s.sourceType === 'box')
        .map((s) => s.sourceName);
    expect(await names()).toContain('short-lived');
    expect((await call(`/api/boxes/${box.id}`, { method: 'DELETE' })).status).toBe(204);
    expect(await names()).not.toContain('short-lived');
  });
});

describe('/api/transactions/{token}', () => {
  let base: string;
  beforeAll(async () => {
    const box = (await (await postJson('/api/boxes/createconnection', { name: 'token-routes' })).json()) as {
      token: string;
    };
    base = `/api/transactions/${box.token}`;
  });

  it('answers status 404 for an unknown transaction and 400 for a bad parameter or status', async () => {
    expect((await t.app.request(`${base}/status?transactionid=5`)).status).toBe(404);
    expect((await t.app.request(`${base}/status?transactionid=x`)).status).toBe(400);
    expect(
      (await t.app.request(`${base}/status?transactionid=5`, { method: 'PUT', body: 'FINISHED' })).status,
    ).toBe(404);
    const bad = await t.app.request(`${base}/status?transactionid=5`, {
      method: 'PUT',
      body: JSON.stringify({ status: 'DONE' }),
    });
    expect(bad.status).toBe(400);
  });

  it('answers an empty poll with 404, and 404 for an outgoing image of no transaction', async () => {
    expect((await t.app.request(`${base}/outgoing/poll?n=10`)).status).toBe(404);
    expect((await t.app.request(`${base}/outgoing?transactionid=1&imageid=1`)).status).toBe(404);
    const done = await t.app.request(`${base}/outgoing/done`, {
      method: 'POST',
      body: JSON.stringify({ transaction: { id: 1 }, image: { id: 1 } }),
    });
    expect(done.status).toBe(404);
    expect((await t.app.request(`${base}/outgoing/done`, { method: 'POST', body: '{}' })).status).toBe(400);
    const huge = await t.app.request(`${base}/outgoing/failed`, {
      method: 'POST',
      body: JSON.stringify({ message: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(huge.status).toBe(413);
    expect(
      (
        await t.app.request(`${base}/image?transactionid=1&sequencenumber=3&totalimagecount=2`, {
          method: 'POST',
          body: 'x',
        })
      ).status,
    ).toBe(400);
  });
});

/**
 * Users and sessions over real HTTP on a real engine: a login cookie used by a client, the state store in
 * the data directory surviving a restart (sessions, the superuser's changed password), and throttling by
 * user name and the peer's real address.
 */
import { onPostgres } from './helpers/state-engines.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTH, startTestEngine, type TestEngine } from './helpers/engine.js';
import { makeInstance } from './fixtures/dicom-fixtures.js';

let engine: TestEngine;
beforeAll(async () => {
  engine = await startTestEngine();
});
afterAll(async () => engine?.cleanup());

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(engine.url(path), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
const basic = (user: string, password: string) => ({
  Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

async function login(user: string, pass: string): Promise<string> {
  const r = await post('/api/users/login', { user, pass });
  expect(r.status).toBe(204);
  const cookie = r.headers.getSetCookie()[0];
  expect(cookie).toMatch(/^slicebox-session=[^;]+; Max-Age=3600; Path=\/api; HttpOnly; SameSite=Strict$/);
  return cookie.split(';')[0];
}

describe('users over HTTP', () => {
  // In the scale project the state is in PostgreSQL (test/helpers/state-engines.ts).
  it.skipIf(onPostgres())('keeps its state in <data dir>/state.sqlite', () => {
    expect(existsSync(join(engine.dataDir, 'state.sqlite'))).toBe(true);
  });

  it('lets a user log in, upload as themselves, and see their user as a source', async () => {
    const created = await post('/api/users', { user: 'tech', role: 'USER', password: 'tech-password' }, AUTH);
    expect(created.status).toBe(201);
    const tech = (await created.json()) as { id: number };
    const cookie = await login('tech', 'tech-password');

    expect(await (await fetch(engine.url('/api/users/current'), { headers: { cookie } })).json()).toEqual({
      id: tech.id,
      user: 'tech',
      role: 'USER',
    });
    const upload = await fetch(engine.url('/api/images'), {
      method: 'POST',
      headers: { cookie },
      body: new Uint8Array(makeInstance({ patientId: 'TECH' })),
    });
    expect(upload.status).toBe(201);
    const image = (await upload.json()) as { seriesId: number };
    const source = await (await engine.api(`/api/metadata/series/${image.seriesId}/source`)).json();
    expect(source).toEqual({ sourceType: 'user', sourceName: 'tech', sourceId: tech.id });
    const sources = await (await fetch(engine.url('/api/sources'), { headers: { cookie } })).json();
    expect(sources).toContainEqual({ sourceType: 'user', sourceName: 'tech', sourceId: tech.id });

    const deleted = await fetch(engine.url('/api/images/delete'), {
      method: 'POST',
      headers: { cookie },
      body: '[1]',
    });
    expect(deleted.status).toBe(403);
  });

  it('keeps sessions and takes the superuser password from the configuration across a restart', async () => {
    const cookie = await login('admin', 'secret');
    await engine.stop();
    engine = await startTestEngine({ dataDir: engine.dataDir, adminPassword: 'rotated' });
    // A changed superuser password ends the superuser's sessions; other users' sessions live on.
    expect((await fetch(engine.url('/api/users/current'), { headers: { cookie } })).status).toBe(404);
    expect((await fetch(engine.url('/api/sources'), { headers: basic('admin', 'secret') })).status).toBe(401);
    expect((await fetch(engine.url('/api/sources'), { headers: basic('admin', 'rotated') })).status).toBe(
      200,
    );
    const tech = await login('tech', 'tech-password');
    await engine.stop();
    engine = await startTestEngine({ dataDir: engine.dataDir, adminPassword: 'rotated' });
    expect((await fetch(engine.url('/api/users/current'), { headers: { cookie: tech } })).status).toBe(200);
  });

  it("throttles a user name from the peer's real address after 5 failed logins, and nobody else", async () => {
    for (let i = 0; i < 5; i++)
      expect((await post('/api/users/login', { user: 'tech', pass: `guess-${i}` })).status).toBe(401);
    const refused = await post('/api/users/login', { user: 'tech', pass: 'tech-password' });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another user from the same address (everyone on loopback here) is not locked out.
    expect((await fetch(engine.url('/api/sources'), { headers: basic('admin', 'rotated') })).status).toBe(
      200,
    );
  });
});

/**
 * /api/users and authentication through app.request() on real adapters: login, logout, current user,
 * cookie attributes, sliding expiry on an injected clock, sessions across a restart, login throttling per
 * user name and address (with trusted proxies), adding and deleting users, the superuser from the configuration.
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN, basic, createTestApp, from, type TestApp } from './helpers/app.js';

let t: TestApp;
beforeEach(async () => {
  t = await createTestApp();
});
afterEach(async () => t?.cleanup());

const MINUTE = 60_000;
let nextAddress = 1;
/** A fresh peer address per call unless one is given, so only the throttle under test can trigger. */
const freshAddress = () => `192.0.2.${nextAddress++}`;

const json = (body: unknown) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});
const login = (user: string, pass: string, address = freshAddress()) =>
  t.app.request('/api/users/login', json({ user, pass }), from(address));
const withCookie = (token: string) => ({ cookie: `slicebox-session=${token}` });
const get = (path: string, headers: Record<string, string> = {}, address = freshAddress()) =>
  t.app.request(path, { headers }, from(address));
const asAdmin = (path: string, init: RequestInit = {}) =>
  t.app.request(path, { ...init, headers: { ...basic(ADMIN.user, ADMIN.password), ...init.headers } });

function sessionCookie(r: Response): { token: string; attributes: string[] } | undefined {
  const cookie = r.headers.getSetCookie().find((c) => c.startsWith('slicebox-session='));
  if (!cookie) return undefined;
  const [pair, ...attributes] = cookie.split(/;\s*/);
  return { token: pair.slice('slicebox-session='.length), attributes };
}

async function loggedIn(user = ADMIN.user, pass = ADMIN.password): Promise<string> {
  const r = await login(user, pass);
  expect(r.status, await r.clone().text()).toBe(204);
  return sessionCookie(r)!.token;
}

describe('login, current user, logout', () => {
  it('logs in with a session cookie: 204, HttpOnly, SameSite=Strict, Path=/api, Max-Age', async () => {
    const r = await login('admin', 'secret');
    expect(r.status).toBe(204);
    const cookie = sessionCookie(r)!;
    expect(cookie.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(cookie.attributes).toEqual(
      expect.arrayContaining(['Max-Age=3600', 'Path=/api', 'HttpOnly', 'SameSite=Strict']),
    );
    expect(cookie.attributes).not.toContain('Secure');

    const patients = await get('/api/metadata/patients', withCookie(cookie.token));
    expect(patients.status).toBe(200);
    const current = await get('/api/users/current', withCookie(cookie.token));
    expect(await current.json()).toEqual({ id: 1, user: 'admin', role: 'SUPERUSER' });
  });

  it('stores only the SHA-256 of the session token', async () => {
    const token = await loggedIn();
    expect(await t.state.session(token)).toBeUndefined();
    expect((await t.state.session(createHash('sha256').update(token).digest('hex')))?.user.user).toBe(
      'admin',
    );
  });

  it('answers 401 to a wrong password or unknown user, 400 to a malformed body', async () => {
    for (const [user, pass] of [
      ['admin', 'wrong'],
      ['nobody', 'secret'],
      ['', ''],
    ]) {
      const r = await login(user, pass);
      expect(r.status).toBe(401);
      expect(await r.text()).toBe('Invalid username or password');
      expect(r.headers.get('www-authenticate')).toBeNull();
      expect(sessionCookie(r)).toBeUndefined();
    }
    const malformed = await t.app.request('/api/users/login', { method: 'POST', body: '{"user":' });
    expect(malformed.status).toBe(400);
    expect((await t.app.request('/api/users/login', json({ user: 'admin' }))).status).toBe(400);
  });

  it('answers the current user from Basic or the cookie, else 404', async () => {
    expect((await get('/api/users/current')).status).toBe(404);
    expect((await get('/api/users/current', withCookie('forged'))).status).toBe(404);
    expect((await get('/api/users/current', basic('admin', 'wrong'))).status).toBe(404);
    const r = await get('/api/users/current', basic('admin', 'secret'));
    expect(await r.json()).toEqual({ id: 1, user: 'admin', role: 'SUPERUSER' });
  });

  it('uses Basic when both are sent', async () => {
    const token = await loggedIn();
    const r = await get('/api/metadata/patients', { ...withCookie(token), ...basic('admin', 'wrong') });
    expect(r.status).toBe(401);
  });

  it('logs out: 204, the cookie cleared, the session gone', async () => {
    const token = await loggedIn();
    const r = await t.app.request('/api/users/logout', { method: 'POST', headers: withCookie(token) });
    expect(r.status).toBe(204);
    expect(sessionCookie(r)).toMatchObject({ token: '', attributes: expect.arrayContaining(['Max-Age=0']) });
    const after = await get('/api/metadata/patients', withCookie(token));
    expect(after.status).toBe(401);
    expect(await after.text()).toMatch(/Session expired or unknown/);
    expect((await get('/api/users/current', withCookie(token))).status).toBe(404);
    // Logging out needs a user.
    expect((await t.app.request('/api/users/logout', { method: 'POST' })).status).toBe(401);
  });

  it('replaces the session a client logs in again with', async () => {
    const first = await loggedIn();
    const r = await t.app.request('/api/users/login', {
      ...json({ user: 'admin', pass: 'secret' }),
      headers: { 'content-type': 'application/json', ...withCookie(first) },
    });
    expect(r.status).toBe(204);
    expect((await get('/api/users/current', withCookie(first))).status).toBe(404);
    expect((await get('/api/users/current', withCookie(sessionCookie(r)!.token))).status).toBe(200);
  });
});

describe('session expiry', () => {
  it('slides with use and ends after the timeout of inactivity', async () => {
    const token = await loggedIn();
    const use = () => get('/api/metadata/patients', withCookie(token));

    t.clock.now += 30_000;
    const early = await use();
    expect(early.status).toBe(200);
    // Refreshed at most once a minute: no write, no new cookie yet.
    expect(sessionCookie(early)).toBeUndefined();

    t.clock.now += 59 * MINUTE;
    const refreshed = await use();
    expect(refreshed.status).toBe(200);
    expect(sessionCookie(refreshed)).toMatchObject({
      token,
      attributes: expect.arrayContaining(['Max-Age=3600', 'HttpOnly']),
    });

    t.clock.now += 59 * MINUTE; // 2 h after login, 59 min after the last use
    expect((await use()).status).toBe(200);

    t.clock.now += 60 * MINUTE;
    const expired = await use();
    expect(expired.status).toBe(401);
    expect(await expired.text()).toMatch(/Session expired/);
    // Gone for good, not only too old.
    t.clock.now -= 30 * MINUTE;
    expect((await use()).status).toBe(401);
  });

  it('honours a configured timeout', async () => {
    await t.cleanup();
    t = await createTestApp({ sessionTimeoutSecs: 120 });
    const r = await login('admin', 'secret');
    expect(sessionCookie(r)!.attributes).toContain('Max-Age=120');
    t.clock.now += 121_000;
    expect((await get('/api/users/current', withCookie(sessionCookie(r)!.token))).status).toBe(404);
  });

  it('survives a restart', async () => {
    const token = await loggedIn();
    await t.restart();
    expect((await get('/api/metadata/patients', withCookie(token))).status).toBe(200);
  });
});

describe('login throttling', () => {
  const here = '203.0.113.5';
  const elsewhere = '203.0.113.6';

  it('makes a user name from one address wait after 5 failures, longer after each further one', async () => {
    for (let i = 0; i < 5; i++) expect((await login('admin', `guess-${i}`, here)).status).toBe(401);
    const refused = await login('admin', 'secret', here);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(sessionCookie(refused)).toBeUndefined();
    // Basic and the current-user route are throttled the same way.
    const viaBasic = await get('/api/metadata/patients', basic('admin', 'secret'), here);
    expect(viaBasic.status).toBe(429);
    expect(Number(viaBasic.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await get('/api/users/current', basic('admin', 'secret'), here)).status).toBe(429);

    // Each further failure doubles the wait: 30 s, then 60 s, then 120 s…
    t.clock.now += 30_000;
    expect((await login('admin', 'guess-5', here)).status).toBe(401);
    expect((await login('admin', 'secret', here)).headers.get('retry-after')).toBe('60');
    t.clock.now += 60_000;
    expect((await login('admin', 'guess-6', here)).status).toBe(401);
    expect((await login('admin', 'secret', here)).headers.get('retry-after')).toBe('120');
    t.clock.now += 120_000;
    expect((await login('admin', 'secret', here)).status).toBe(204);
  });

  it('never refuses the right password from another address, other names, or open sessions', async () => {
    const session = sessionCookie(await login('admin', 'secret', elsewhere))!.token;
    await t.users.create({ user: 'other', role: 'USER', password: 'other-password' });
    for (let i = 0; i < 20; i++)
      expect((await login('admin', `guess-${i}`, here)).status).toBe(i < 5 ? 401 : 429);
    expect((await login('admin', 'secret', here)).status).toBe(429);
    expect((await login('admin', 'secret', elsewhere)).status).toBe(204);
    expect((await get('/api/metadata/patients', basic('admin', 'secret'), elsewhere)).status).toBe(200);
    expect((await login('other', 'other-password', here)).status).toBe(204);
    expect((await get('/api/metadata/patients', withCookie(session), here)).status).toBe(200);
  });

  it('counts failed Basic authentication too', async () => {
    for (let i = 0; i < 5; i++)
      expect((await get('/api/metadata/patients', basic('admin', `guess-${i}`), here)).status).toBe(401);
    expect((await login('admin', 'secret', here)).status).toBe(429);
  });

  it('lets failures from one address for many names lock nobody out', async () => {
    for (let i = 0; i < 10; i++) expect((await login(`name-${i}`, 'x', here)).status).toBe(401);
    expect((await login('admin', 'secret', here)).status).toBe(204);
  });

  it('forgets failures once they leave the 15-minute window', async () => {
    for (let i = 0; i < 5; i++) await login('admin', 'nope', here);
    t.clock.now += 30_000;
    expect((await login('admin', 'nope', here)).status).toBe(401);
    t.clock.now += 15 * MINUTE;
    expect((await login('admin', 'nope', here)).status).toBe(401);
    expect((await login('admin', 'secret', here)).status).toBe(204);
  });

  it('forgets failures of a pair once it logs in, and keeps the count across a restart', async () => {
    for (let i = 0; i < 4; i++) await login('admin', 'nope', here);
    expect((await login('admin', 'secret', here)).status).toBe(204);
    for (let i = 0; i < 4; i++) await login('admin', 'nope', here);
    await t.restart();
    expect((await login('admin', 'nope', here)).status).toBe(401);
    expect((await login('admin', 'secret', here)).status).toBe(429);
  });

  it('believes X-Forwarded-For only from trusted proxies', async () => {
    const proxied = await createTestApp({ trustedProxies: ['10.0.0.0/8'] });
    try {
      const via = (address: string, forwardedFor: string, pass: string) =>
        proxied.app.request(
          '/api/users/login',
          {
            ...json({ user: 'admin', pass }),
            headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
          },
          from(address),
        );
      // Through the proxy, each client is told apart: one client's failures do not throttle another.
      for (let i = 0; i < 5; i++) expect((await via('10.1.2.3', '198.51.100.1', 'nope')).status).toBe(401);
      expect((await via('10.1.2.3', '198.51.100.1', 'secret')).status).toBe(429);
      expect((await via('10.1.2.3', '198.51.100.2', 'secret')).status).toBe(204);
      // A forged entry left of the proxy's own is not believed over it.
      expect((await via('10.1.2.3', '198.51.100.2, 198.51.100.1', 'secret')).status).toBe(429);
      // From an untrusted peer the header is ignored: the peer itself is the client.
      for (let i = 0; i < 5; i++)
        expect((await via('192.0.2.200', `198.51.100.${10 + i}`, 'nope')).status).toBe(401);
      expect((await via('192.0.2.200', '198.51.100.99', 'secret')).status).toBe(429);
    } finally {
      await proxied.cleanup();
    }
  });
});

describe('/api/users', () => {
  const add = (body: unknown) => asAdmin('/api/users', json(body));

  it('adds users (201, without any password), and answers the existing user for an existing name', async () => {
    const r = await add({ user: 'alice', role: 'USER', password: 'alice-password' });
    expect(r.status).toBe(201);
    const alice = await r.json();
    expect(alice).toEqual({ id: expect.any(Number), user: 'alice', role: 'USER' });

    const again = await add({ user: 'alice', role: 'ADMINISTRATOR', password: 'other' });
    expect(again.status).toBe(201);
    expect(await again.json()).toEqual(alice);
    // The existing user is untouched: same role, same password.
    expect((await login('alice', 'alice-password')).status).toBe(204);
    expect((await login('alice', 'other')).status).toBe(401);

    const list = await (await asAdmin('/api/users')).json();
    expect(list).toEqual([{ id: 1, user: 'admin', role: 'SUPERUSER' }, alice]);
    expect(await (await asAdmin('/api/users?startindex=1&count=1')).json()).toEqual([alice]);
    expect((await asAdmin('/api/users?startindex=-1')).status).toBe(400);
  });

  it('refuses superusers and malformed users with 400', async () => {
    const superuser = await add({ user: 'root', role: 'SUPERUSER', password: 'x' });
    expect(superuser.status).toBe(400);
    expect(await superuser.text()).toMatch(/Superusers may not be added/);
    for (const body of [
      { user: 'a:b', role: 'USER', password: 'x' },
      { user: '', role: 'USER', password: 'x' },
      { user: 'bob', role: 'USER', password: '' },
      { user: 'bob', role: 'OWNER', password: 'x' },
      { user: 'bob', role: 'USER' },
    ])
      expect((await add(body)).status, JSON.stringify(body)).toBe(400);
    expect((await asAdmin('/api/users', { method: 'POST', body: 'nope' })).status).toBe(400);
    expect((await t.users.all()).map((u) => u.user)).toEqual(['admin']);
  });

  it('lets an ADMINISTRATOR manage users, and a USER only log in', async () => {
    await t.users.create({ user: 'keeper', role: 'ADMINISTRATOR', password: 'keeper-password' });
    await t.users.create({ user: 'reader', role: 'USER', password: 'reader-password' });
    const byKeeper = await t.app.request('/api/users', {
      ...json({ user: 'carol', role: 'USER', password: 'carol-password' }),
      headers: { 'content-type': 'application/json', ...basic('keeper', 'keeper-password') },
    });
    expect(byKeeper.status).toBe(201);
    const byReader = await t.app.request('/api/users', {
      ...json({ user: 'dave', role: 'USER', password: 'dave-password' }),
      headers: { 'content-type': 'application/json', ...basic('reader', 'reader-password') },
    });
    expect(byReader.status).toBe(403);
    expect(await byReader.text()).toMatch(/needs the role ADMINISTRATOR/);
    const token = await loggedIn('reader', 'reader-password');
    expect((await get('/api/users', withCookie(token))).status).toBe(403);
    expect((await get('/api/metadata/patients', withCookie(token))).status).toBe(200);
  });

  it('deletes users with their sessions; the superuser cannot be deleted; unknown ids are fine', async () => {
    const bob = await t.users.create({ user: 'bob', role: 'USER', password: 'bob-password' });
    const token = await loggedIn('bob', 'bob-password');
    expect((await asAdmin(`/api/users/${bob.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await get('/api/users/current', withCookie(token))).status).toBe(404);
    expect((await get('/api/metadata/patients', basic('bob', 'bob-password'))).status).toBe(401);
    expect((await asAdmin(`/api/users/${bob.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await asAdmin('/api/users/9999', { method: 'DELETE' })).status).toBe(204);
    const superuser = await asAdmin('/api/users/1', { method: 'DELETE' });
    expect(superuser.status).toBe(400);
    expect(await superuser.text()).toMatch(/superuser cannot be deleted/);
    expect((await asAdmin('/api/users/abc', { method: 'DELETE' })).status).toBe(400);
  });

  it('lists every user as a source', async () => {
    const bob = await t.users.create({ user: 'bob', role: 'USER', password: 'bob-password' });
    expect(await (await asAdmin('/api/sources')).json()).toEqual([
      { sourceType: 'user', sourceName: 'admin', sourceId: 1 },
      { sourceType: 'user', sourceName: 'bob', sourceId: bob.id },
    ]);
  });
});

describe('the superuser from the configuration', () => {
  it('takes a changed password at restart, ending the old sessions', async () => {
    const token = await loggedIn();
    const before = (await t.state.credentials('admin'))!.passwordHash;
    await t.restart();
    expect((await t.state.credentials('admin'))!.passwordHash).toBe(before);
    expect((await get('/api/users/current', withCookie(token))).status).toBe(200);

    await t.restart({ adminPassword: 'new-secret' });
    expect((await t.state.credentials('admin'))!.passwordHash).not.toBe(before);
    expect((await get('/api/users/current', withCookie(token))).status).toBe(404);
    expect((await get('/api/metadata/patients', basic('admin', 'secret'))).status).toBe(401);
    expect((await get('/api/metadata/patients', basic('admin', 'new-secret'))).status).toBe(200);
  });
});

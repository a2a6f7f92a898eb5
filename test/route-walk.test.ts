/**
 * Walks every route registered in the app, so no route can be born unprotected: 401 without credentials
 * except on the public routes (the box transaction routes: 401 for a token of no box, whoever asks), 403 for a USER wherever the policy asks for an administrator, and not one
 * password hash in any answer, whoever asks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, basic, createTestApp, type TestApp } from './helpers/app.js';
import { accessFor, ROUTE_POLICY, TOKEN_ROUTES } from '../src/api/policy.js';
import { HASH_PREFIX } from '../src/users/passwords.js';

let t: TestApp;
let routes: Array<{ method: string; path: string; url: string }>;
const USER = { user: 'reader', password: 'reader-password' };
const ADMINISTRATOR = { user: 'keeper', password: 'keeper-password' };

/** Box protocol routes: open to anyone holding a POLL box's token (walked with a valid one). */
const TOKEN = TOKEN_ROUTES.map((r) => `${r.method} ${r.path.replace('*', ':token')}`);
const PUBLIC = [
  'GET /api/system/health',
  'GET /api/system/information',
  'GET /api/system/ready',
  'GET /api/openapi.json',
  'POST /api/users/login',
  'GET /api/users/current',
  'GET /', // the web UI's files and pages; its data comes from /api
  'GET /:path{.+}',
  ...TOKEN,
];
let token: string;

beforeAll(async () => {
  t = await createTestApp();
  await t.users.create({ ...USER, role: 'USER' });
  await t.users.create({ ...ADMINISTRATOR, role: 'ADMINISTRATOR' });
  // Box 1 is for the walk to delete (`DELETE /api/boxes/1`); box 2's token opens the transaction routes.
  const boxes = [];
  for (const name of ['deleted by the walk', 'walker'])
    boxes.push(
      await t.app.request('/api/boxes/createconnection', {
        method: 'POST',
        headers: basic(ADMIN.user, ADMIN.password),
        body: JSON.stringify({ name }),
      }),
    );
  token = ((await boxes[1]!.json()) as { token: string }).token;
  routes = t.app.routes
    .filter((r) => r.method !== 'ALL')
    .map((r) => ({
      method: r.method,
      path: r.path,
      url: r.path.replace(':token', token).replace(/:\w+/g, '1'),
    }));
});
afterAll(async () => t?.cleanup());

const call = (route: { method: string; url: string }, headers: Record<string, string> = {}) =>
  t.app.request(route.url, { method: route.method, headers });

describe('every registered route', () => {
  it('has routes to walk, and no policy rule that names a route that does not exist', () => {
    expect(routes.length).toBeGreaterThan(25);
    for (const rule of ROUTE_POLICY) {
      const pattern = new RegExp(`^${rule.path.replace(/\*/g, '[^/]+')}$`);
      expect(
        routes.some((r) => r.method === rule.method && pattern.test(r.path)),
        `${rule.method} ${rule.path}`,
      ).toBe(true);
    }
  });

  it('answers 401 without credentials, except the public routes', async () => {
    const open: string[] = [];
    for (const route of routes) {
      const r = await call(route);
      const name = `${route.method} ${route.path}`;
      if (r.status !== 401) open.push(name);
      // A browser opening the URL is asked for a password; the web UI's requests are not (own login form).
      else {
        expect(r.headers.get('www-authenticate'), name).toBe('Basic realm="Sluice", charset="UTF-8"');
        const fromUi = await call(route, { 'X-Requested-With': 'XMLHttpRequest' });
        expect(fromUi.status, name).toBe(401);
        expect(fromUi.headers.get('www-authenticate'), name).toBeNull();
      }
    }
    expect(open.sort()).toEqual([...PUBLIC].sort());
    expect(
      routes.filter((r) => accessFor(r.method, r.path) === 'PUBLIC').map((r) => `${r.method} ${r.path}`),
    ).toEqual(expect.arrayContaining(PUBLIC));
  });

  it('walks DICOMweb (/dicom-web) as /api: QIDO-RS, WADO-RS and STOW-RS', () => {
    const walked = routes.map((r) => `${r.method} ${r.path}`);
    expect(walked).toEqual(
      expect.arrayContaining([
        'GET /dicom-web/studies',
        'GET /dicom-web/studies/:study/series/:series/instances',
        'GET /dicom-web/studies/:study',
        'GET /dicom-web/studies/:study/series/:series/instances/:instance/frames/:frames',
        'GET /dicom-web/studies/:study/thumbnail',
        'POST /dicom-web/studies',
      ]),
    );
  });

  it('answers 401 on the box transaction routes to a token of no box, even with user credentials', async () => {
    const tokenRoutes = routes.filter((r) => TOKEN.includes(`${r.method} ${r.path}`));
    expect(tokenRoutes.map((r) => `${r.method} ${r.path}`).sort()).toEqual([...TOKEN].sort());
    const tampered = token.slice(0, -1) + (token.endsWith('0') ? '1' : '0');
    for (const route of tokenRoutes)
      for (const who of [{}, basic(ADMIN.user, ADMIN.password)]) {
        const r = await call({ method: route.method, url: route.url.replace(token, tampered) }, who);
        expect(r.status, `${route.method} ${route.path}`).toBe(401);
      }
  });

  it('answers 401 to wrong credentials and to an unknown session', async () => {
    for (const route of routes.filter((r) => !PUBLIC.includes(`${r.method} ${r.path}`)).slice(0, 3)) {
      expect((await call(route, { cookie: 'slicebox-session=forged' })).status).toBe(401);
      expect((await call(route, { Authorization: 'Basic !!!' })).status).toBe(401);
      expect((await call(route, basic('nobody', 'x'))).status).toBe(401);
    }
    await t.state.clearLoginFailures('address:unknown');
    await t.state.clearLoginFailures('user:nobody');
  });

  it('answers 403 to a USER on every route that needs an administrator, and lets them through elsewhere', async () => {
    const forbidden: string[] = [];
    for (const route of routes) {
      const r = await call(route, basic(USER.user, USER.password));
      const name = `${route.method} ${route.path}`;
      if (accessFor(route.method, route.path) === 'ADMINISTRATOR') {
        expect(r.status, name).toBe(403);
        forbidden.push(name);
      } else expect([401, 403], name).not.toContain(r.status);
    }
    // What the README's table promises, for the routes that exist today.
    expect(forbidden).toEqual(
      expect.arrayContaining([
        'GET /api/users',
        'POST /api/users',
        'DELETE /api/users/:id',
        'DELETE /api/images/:id',
        'POST /api/images/delete',
        'DELETE /api/quarantine/:id',
        'POST /api/quarantine/:id/requeue',
      ]),
    );
    for (const allowed of [
      'POST /api/images',
      'POST /api/metadata/patients/query',
      'GET /api/images/:id',
      'POST /dicom-web/studies',
      'POST /dicom-web/studies/:study',
    ])
      expect(forbidden).not.toContain(allowed);
  });

  it('never answers a password hash, to anyone', async () => {
    const hashes = await Promise.all(
      [ADMIN, USER, ADMINISTRATOR].map(async (u) => (await t.state.credentials(u.user))!.passwordHash),
    );
    expect(hashes.every((h) => h.startsWith(HASH_PREFIX))).toBe(true);
    const bodies: string[] = [];
    for (const who of [ADMIN, ADMINISTRATOR, USER])
      for (const route of routes) {
        const r = await call(route, basic(who.user, who.password));
        const forbidden = who === USER && accessFor(route.method, route.path) === 'ADMINISTRATOR';
        expect(r.status, `${who.user} ${route.method} ${route.path}`).not.toBe(401);
        expect(r.status, `${who.user} ${route.method} ${route.path}`).not.toBe(500);
        if (!forbidden) expect(r.status, `${who.user} ${route.method} ${route.path}`).not.toBe(403);
        bodies.push(await r.text());
      }
    for (const url of ['/api/users?count=100', '/api/users/current', '/api/sources'])
      bodies.push(await (await t.app.request(url, { headers: basic(ADMIN.user, ADMIN.password) })).text());
    const all = bodies.join('\n');
    expect(all).toContain('"user":"reader"');
    expect(all).not.toContain(HASH_PREFIX);
    expect(all).not.toMatch(/hashedPassword|passwordHash/);
    for (const hash of hashes) {
      expect(all).not.toContain(hash);
      expect(all).not.toContain(hash.split('$').pop()!);
    }
  });

  it('serves the web UI outside /api without credentials, and keeps unknown /api paths behind a login', async () => {
    expect((await t.app.request('/patients/3')).status).not.toBe(401);
    expect((await t.app.request('/api/no-such-route')).status).toBe(401);
    expect(
      (await t.app.request('/api/no-such-route', { headers: basic(ADMIN.user, ADMIN.password) })).status,
    ).toBe(404);
    expect((await t.app.request('/api/no-such-route', { method: 'POST' })).status).toBe(401);
  });
});

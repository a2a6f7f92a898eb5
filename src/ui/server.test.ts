import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uiRoutes } from './server.js';

let parent: string;
let dir: string;
beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'sluice-ui-'));
  dir = join(parent, 'ui');
  await mkdir(join(dir, 'assets'), { recursive: true });
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>Sluice</title>');
  await writeFile(join(dir, 'assets', 'app-123.js'), 'console.log(1)');
  await writeFile(join(parent, 'secret.txt'), 'not for the web');
});
afterAll(() => rm(parent, { recursive: true, force: true }));

describe('uiRoutes', () => {
  it('serves index.html at / and at any page path, with security headers', async () => {
    const app = uiRoutes(dir);
    for (const path of ['/', '/patients/3', '/admin/scps']) {
      const r = await app.request(path);
      expect(r.status, path).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^text\/html/);
      expect(r.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(await r.text()).toContain('<title>Sluice</title>');
    }
  });

  it('serves hashed assets as immutable, 404 for missing files and /api paths, nothing outside its folder', async () => {
    const app = uiRoutes(dir);
    const js = await app.request('/assets/app-123.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(js.headers.get('cache-control')).toContain('immutable');
    expect((await app.request('/assets/missing.js')).status).toBe(404);
    expect((await app.request('/api/nothing')).status).toBe(404);
    for (const path of ['/..%2fsecret.txt', '/assets/..%2f..%2fsecret.txt']) {
      const r = await app.request(path);
      expect(r.status, path).toBe(404);
      expect(await r.text()).not.toContain('not for the web');
    }
    expect((await app.request('/%E0%A4%A')).status).toBe(400);
  });

  it('says how to build the UI when it is not built, and the engine still answers', async () => {
    const r = await uiRoutes(join(dir, 'nothing-here')).request('/');
    expect(r.status).toBe(503);
    expect(await r.text()).toContain('npm run build:ui');
  });
});

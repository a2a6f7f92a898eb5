/**
 * The operations routes through app.request(): system information (Slicebox's `{version}` for anyone, the
 * rest for users), readiness, `/metrics` protection (with the loopback opt-in) and the 401 challenge.
 */
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import { storeLocations } from '../src/ops/status.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, basic, createTestApp, from, type TestApp } from './helpers/app.js';
import { parseMetrics } from './helpers/log-capture.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t?.cleanup());

const admin = basic(ADMIN.user, ADMIN.password);

describe('system information', () => {
  it('answers only the version without credentials, as Slicebox does', async () => {
    const r = await t.app.request('/api/system/information');
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ version: 'test' });
  });

  it('answers version, uptime, AE title, ports, data directory, storage, counts and pipelines to a user', async () => {
    const r = await t.app.request('/api/system/information', { headers: admin });
    expect(r.status).toBe(200);
    const info = (await r.json()) as Record<string, any>;
    expect(info).toMatchObject({
      version: 'test',
      aeTitle: 'SLUICE',
      httpPort: 5000,
      dicomPort: 11112,
      dataDir: t.dir,
      counts: { patients: 0, studies: 0, series: 0, images: 0 },
      pipelines: [],
    });
    expect(info.uptimeSecs).toBeGreaterThanOrEqual(0);
    expect(new Date(info.startedAt).getTime()).toBeLessThanOrEqual(Date.now());
    expect(info.storage.freeBytes).toBeGreaterThan(0);
    expect(info.storage.totalBytes).toBeGreaterThanOrEqual(info.storage.freeBytes);
    expect(info.storage.usedBytes).toBeGreaterThanOrEqual(0);
    expect(JSON.stringify(info)).not.toMatch(/password/i);
    expect(info.stores).toEqual({
      blobs: join(t.dir, 'storage'),
      index: join(t.dir, 'index.sqlite'),
      state: join(t.dir, 'state.sqlite'),
    });
  });

  it('names the services of a site at scale, without their passwords', () => {
    const config = loadConfig({
      SLUICE_DATA_DIR: t.dir,
      SLUICE_BLOBS: 's3://archive/site-a',
      SLUICE_INDEX: 'http://sluice:ch-secret@ch.internal:8123/sluice',
      SLUICE_STATE: 'postgres://sluice:pg-secret@pg.internal:5432/sluice',
    });
    expect(storeLocations(config)).toEqual({
      blobs: 's3://archive/site-a/',
      index: 'http://sluice:***@ch.internal:8123/sluice',
      state: 'postgres://sluice:***@pg.internal:5432/sluice',
    });
  });
});

describe('readiness', () => {
  it('is ready with room on the disk, and answers 503 naming the disk below the threshold', async () => {
    const ok = await t.app.request('/api/system/ready');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ ready: true, problems: [] });
    const config = t.engine.services.config;
    config.minFreeBytes = Number.MAX_SAFE_INTEGER;
    try {
      const full = await t.app.request('/api/system/ready');
      expect(full.status).toBe(503);
      const body = (await full.json()) as { ready: boolean; problems: string[] };
      expect(body.ready).toBe(false);
      expect(body.problems).toEqual([
        expect.stringMatching(/^disk: \d+ MB free in .*, below the \d+ MB required \(SLUICE_MIN_FREE_MB\)$/),
      ]);
    } finally {
      config.minFreeBytes = 0;
    }
  });
});

describe('/metrics', () => {
  it('is protected like the API: 401 with a Basic challenge, 200 in Prometheus text to a user', async () => {
    const anonymous = await t.app.request('/metrics', {}, from('10.1.2.3'));
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Basic realm="Sluice", charset="UTF-8"');
    const loopback = await t.app.request('/metrics', {}, from('127.0.0.1'));
    expect(loopback.status).toBe(401);
    const r = await t.app.request('/metrics', { headers: admin });
    expect(r.status).toBe(200);
    const samples = parseMetrics(await r.text());
    expect(samples.get('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(
      [...samples.keys()].some((k) =>
        k.startsWith('sluice_http_requests_total{method="GET",route="/metrics",status="401"}'),
      ),
    ).toBe(true);
  });
});

describe('/metrics open on loopback', () => {
  it('lets a scraper on loopback in without credentials when the operator opts in, and nobody else', async () => {
    const open = await createTestApp({ config: { metricsOpenOnLoopback: true } });
    try {
      for (const address of ['127.0.0.1', '::1', '::ffff:127.0.0.1'])
        expect((await open.app.request('/metrics', {}, from(address))).status, address).toBe(200);
      expect((await open.app.request('/metrics', {}, from('192.168.1.5'))).status).toBe(401);
      // Only /metrics: the API stays closed to loopback callers without credentials.
      expect((await open.app.request('/api/metadata/patients', {}, from('127.0.0.1'))).status).toBe(401);
    } finally {
      await open.cleanup();
    }
  });
});

describe('the 401 challenge', () => {
  it('asks a browser or curl for a password, but not the web UI or a page script', async () => {
    const plain = await t.app.request('/api/metadata/patients');
    expect(plain.status).toBe(401);
    expect(plain.headers.get('www-authenticate')).toBe('Basic realm="Sluice", charset="UTF-8"');
    const navigation = await t.app.request('/api/metadata/patients', {
      headers: { 'Sec-Fetch-Mode': 'navigate', 'Sec-Fetch-Dest': 'document' },
    });
    expect(navigation.headers.get('www-authenticate')).toMatch(/^Basic realm="Sluice"/);
    const fromScripts: Array<Record<string, string>> = [
      { 'X-Requested-With': 'XMLHttpRequest' },
      { 'Sec-Fetch-Mode': 'cors' },
    ];
    for (const headers of fromScripts) {
      const r = await t.app.request('/api/metadata/patients', { headers });
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toBeNull();
    }
    // The login route takes credentials in its body: a failed login is never a challenge.
    const login = await t.app.request('/api/users/login', {
      method: 'POST',
      body: JSON.stringify({ user: 'admin', pass: 'wrong' }),
    });
    expect(login.status).toBe(401);
    expect(login.headers.get('www-authenticate')).toBeNull();
    await t.state.clearLoginFailures('address:unknown');
  });
});

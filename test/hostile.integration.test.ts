/**
 * Hostile and odd input against the running engine (real HTTP, DCMTK and raw sockets over loopback): each
 * case is answered with a clear error, nothing escapes its folder, and the engine goes on serving others.
 */
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as httpRequest } from 'node:http';
import { AUTH, startTestEngine, type TestEngine } from './helpers/engine.js';
import { eventually } from './helpers/eventually.js';
import { makeInstance, newUid } from './fixtures/dicom-fixtures.js';

let engine: TestEngine;
let outside: string;
beforeAll(async () => {
  engine = await startTestEngine();
  outside = await mkdtemp(join(tmpdir(), 'sluice-outside-'));
});
afterAll(async () => {
  await engine?.cleanup();
  await rm(outside, { recursive: true, force: true });
});

const json = (body: unknown, method = 'POST') => ({ method, body: JSON.stringify(body) });

describe('symbolic links out of the watch root', () => {
  it('refuses a watched directory that is a link to a folder outside SLUICE_WATCH_ROOT', async () => {
    const root = join(engine.dataDir, 'watched');
    await mkdir(root, { recursive: true });
    await symlink(outside, join(root, 'escape'));
    const r = await engine.api('/api/directorywatches', json({ name: 'escape', path: 'escape' }));
    expect(r.status).toBe(400);
    expect(await r.text()).toMatch(/leads outside the folder watches may be created in .* symbolic link/);
  });

  it('neither imports nor deletes files reached through a link inside a watched directory', async () => {
    const root = join(engine.dataDir, 'watched');
    await mkdir(join(root, 'ward'), { recursive: true });
    const victim = join(outside, 'victim');
    await mkdir(victim, { recursive: true });
    const outsideSop = newUid();
    await writeFile(join(victim, 'secret.dcm'), makeInstance({ sopInstanceUid: outsideSop }));
    await writeFile(join(outside, 'single.dcm'), makeInstance({ sopInstanceUid: newUid() }));
    await symlink(victim, join(root, 'ward', 'dir-link'));
    await symlink(join(outside, 'single.dcm'), join(root, 'ward', 'file-link.dcm'));
    const r = await engine.api('/api/directorywatches', json({ name: 'ward', path: 'ward' }));
    expect(r.status).toBe(201);
    const { id } = (await r.json()) as { id: number };
    // A real file beside the links is imported, which shows the watch has run over the folder.
    const ownSop = newUid();
    await writeFile(join(root, 'ward', 'own.dcm'), makeInstance({ sopInstanceUid: ownSop }));
    await eventually(async () => expect(await engine.imagesBySop(ownSop)).toHaveLength(1));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await engine.imagesBySop(outsideSop)).toHaveLength(0);
    expect(await readdir(victim)).toEqual(['secret.dcm']);
    expect((await readdir(outside)).sort()).toEqual(['single.dcm', 'victim']);
    expect((await readdir(join(root, 'ward'))).sort()).toEqual(['dir-link', 'file-link.dcm']);
    expect((await engine.api(`/api/directorywatches/${id}`, { method: 'DELETE' })).status).toBe(204);
  });
});

describe('oversized bodies', () => {
  it('stops reading an upload at the limit (413), keeps nothing of it, and serves the next upload', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-limit-'));
    const pipeline = join(dir, 'small.yaml');
    await writeFile(
      pipeline,
      'name: small\nsources:\n  - type: http_upload\n    max_bytes: 8388608\nsinks:\n  - type: storage\n  - type: index\n',
    );
    const small = await startTestEngine({ pipelines: [pipeline] });
    try {
      const chunk = Buffer.alloc(1024 * 1024);
      let sent = 0;
      const answer = await new Promise<{ status: number; body: string; sentWhenAnswered: number }>(
        (resolve, reject) => {
          const req = httpRequest(small.url('/api/images'), {
            method: 'POST',
            headers: { ...AUTH, 'content-type': 'application/octet-stream' },
          });
          req.on('response', (res) => {
            const sentWhenAnswered = sent;
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode!, body, sentWhenAnswered }));
          });
          req.on('error', (err) => (sent > 0 ? undefined : reject(err)));
          const write = () => {
            while (sent < 64 * chunk.length) {
              sent += chunk.length;
              if (!req.write(chunk)) return void req.once('drain', write);
            }
            req.end();
          };
          write();
        },
      );
      expect(answer.status).toBe(413);
      expect(answer.body).toMatch(/larger than 8388608 bytes/);
      // The answer came while the client was still sending: at most the limit and socket buffers were read.
      expect(answer.sentWhenAnswered).toBeLessThan(40 * chunk.length);
      expect(await (await small.api('/api/quarantine')).json()).toEqual([]);
      expect(await readdir(join(small.dataDir, 'landing', 'small', 'tmp'))).toEqual([]);
      const ok = await small.api('/api/images', { method: 'POST', body: new Uint8Array(makeInstance()) });
      expect(ok.status).toBe(201);
    } finally {
      await small.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses JSON bodies over 1 MiB with 413 before parsing them', async () => {
    const huge = JSON.stringify({ queryProperties: [], padding: 'x'.repeat(2 * 1024 * 1024) });
    const r = await engine.api('/api/metadata/patients/query', { method: 'POST', body: huge });
    expect(r.status).toBe(413);
    expect(await r.text()).toMatch(/larger than 1048576 bytes/);
    expect((await engine.api('/api/metadata/patients')).status).toBe(200);
  });
});

describe('bodies that change or delete data are validated strictly', () => {
  it('refuses an anonymization body with unknown fields, leaving the image untouched', async () => {
    const upload = await engine.api('/api/images', { method: 'POST', body: new Uint8Array(makeInstance()) });
    const image = (await upload.json()) as { id: number };
    const r = await engine.api(`/api/images/${image.id}/anonymize`, json({ x: 1 }, 'PUT'));
    expect(r.status).toBe(400);
    expect(await r.text()).toMatch(/unrecognized key.*"x"/i);
    expect((await engine.api(`/api/images/${image.id}`)).status).toBe(200);
    for (const [path, body] of [
      ['/api/scus', { name: 'a', aeTitle: 'A', host: '127.0.0.1', port: 104, x: 1 }],
      [
        '/api/forwarding/rules',
        {
          source: { sourceType: 'user', sourceId: 1 },
          destination: { destinationType: 'scu', destinationId: 1 },
          keepImages: true,
          x: 1,
        },
      ],
      ['/api/seriestypes', { name: 'T', x: 1 }],
      ['/api/filtering/filters', { name: 'F', tagFilterType: 'BLACKLIST', x: 1 }],
    ] as const) {
      const refused = await engine.api(path, json(body));
      expect(refused.status, path).toBe(400);
    }
  });
});

describe('odd query parameters', () => {
  it('pages the quarantine and names the limit of paging numbers, and which one was passed', async () => {
    const page = await engine.api('/api/quarantine?startindex=0&count=1');
    expect(page.status).toBe(200);
    expect(Number(page.headers.get('x-total-count'))).toBeGreaterThanOrEqual(0);
    const huge = await engine.api('/api/metadata/patients?startindex=9223372036854775807');
    expect(huge.status).toBe(400);
    expect(await huge.text()).toMatch(/startindex: must be at most 999999999999999, got 9223372036854775807/);
    const many = await engine.api('/api/metadata/patients?count=9223372036854775807');
    expect(many.status).toBe(400);
    expect(await many.text()).toMatch(/count: must be at most 10000, got 9223372036854775807/);
    const negative = await engine.api('/api/metadata/patients?startindex=-1');
    expect(negative.status).toBe(400);
    expect(await negative.text()).toMatch(/startindex: expected a non-negative integer, got \\?"-1\\?"/);
    expect((await engine.api('/api/metadata/patients?startindex=999999999999999&count=10000')).status).toBe(
      200,
    );
  });
});

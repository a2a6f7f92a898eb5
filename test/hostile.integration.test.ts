/**
 * Hostile and odd input against the running engine (real HTTP, DCMTK and raw sockets over loopback): each
 * case is answered with a clear error, nothing escapes its folder, and the engine goes on serving others.
 */
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
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

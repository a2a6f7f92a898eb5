/**
 * Sources created through the API work at once in the default pipeline, without a restart: an SCP that
 * DCMTK storescu sends to, a watched directory, an import session with exact counters. Deleting them
 * stops them; they come back after a restart.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startTestEngine, type TestEngine } from './helpers/engine.js';
import { dcmtk } from './helpers/dcmtk.js';
import { eventually } from './helpers/eventually.js';
import { makeInstance, newUid, writeStudy } from './fixtures/dicom-fixtures.js';

let engine: TestEngine;
beforeAll(async () => {
  engine = await startTestEngine();
});
afterAll(async () => engine?.cleanup());

const json = (body: unknown) => ({ method: 'POST', body: JSON.stringify(body) });
const sourceOf = async (sop: string) => {
  const [image] = await engine.imagesBySop(sop);
  expect(image).toBeDefined();
  return (await engine.api(`/api/metadata/series/${image.seriesId}/source`)).json();
};
const sources = async () => (await engine.api('/api/sources')).json() as Promise<unknown[]>;

describe('managed SCPs', () => {
  it('opens an SCP on create, stores what storescu sends to it, closes it on delete', async () => {
    const port = await freePort();
    const r = await engine.api('/api/scps', json({ id: -1, name: 'modality', aeTitle: ' CTSCP ', port }));
    expect(r.status).toBe(201);
    const scp = (await r.json()) as { id: number; name: string; aeTitle: string; port: number };
    // Slicebox's ScpData, and Sluice's queryRetrieve (offered unless switched off).
    expect(scp).toEqual({
      id: expect.any(Number),
      name: 'modality',
      aeTitle: 'CTSCP',
      port,
      queryRetrieve: true,
    });
    expect(await (await engine.api('/api/scps')).json()).toEqual([scp]);

    expect((await dcmtk('echoscu', ['-aec', 'CTSCP', '127.0.0.1', String(port)])).code).toBe(0);
    const study = await writeStudy(join(engine.dataDir, 'to-send'), { series: 2, instancesPerSeries: 2 });
    const sent = await dcmtk('storescu', ['-aec', 'CTSCP', '127.0.0.1', String(port), ...study.files]);
    expect(sent.code, sent.stderr).toBe(0);
    for (const sop of study.sopInstanceUids) expect(await engine.imagesBySop(sop)).toHaveLength(1);
    expect(await sourceOf(study.sopInstanceUids[0])).toEqual({
      sourceType: 'scp',
      sourceName: 'modality',
      sourceId: scp.id,
    });
    expect(await sources()).toContainEqual({ sourceType: 'scp', sourceName: 'modality', sourceId: scp.id });
    const pipelines = (await (await engine.api('/api/pipelines')).json()) as Array<{
      components: Array<{ type: string; counters: { received: number } }>;
    }>;
    const managed = pipelines[0].components.find((c) => c.type === 'managed_sources');
    expect(managed?.counters.received).toBeGreaterThanOrEqual(4);

    expect((await engine.api(`/api/scps/${scp.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await dcmtk('echoscu', ['-to', '5', '127.0.0.1', String(port)])).code).not.toBe(0);
    expect(await (await engine.api('/api/scps')).json()).toEqual([]);
    expect(await sources()).not.toContainEqual(
      expect.objectContaining({ sourceType: 'scp', sourceId: scp.id }),
    );
    // Idempotent, as in Slicebox.
    expect((await engine.api(`/api/scps/${scp.id}`, { method: 'DELETE' })).status).toBe(204);
  });

  it('refuses bad AE titles, ports out of range and ports in use with 400 and a reason', async () => {
    const port = await freePort();
    const bad = async (body: unknown, reason: RegExp) => {
      const r = await engine.api('/api/scps', json(body));
      expect(r.status).toBe(400);
      expect(await r.text()).toMatch(reason);
    };
    await bad({ name: 'x', aeTitle: '   ', port }, /AE title must be 1 to 16/);
    await bad({ name: 'x', aeTitle: 'A'.repeat(17), port }, /AE title must be 1 to 16/);
    await bad({ name: 'x', aeTitle: 'OK', port: 70000 }, /1\.\.65535/);
    await bad({ name: 'x', aeTitle: 'OK', port: 'a' }, /port must be a number/);
    await bad(
      { name: 'x', aeTitle: 'OK', port: engine.dicomPort },
      /in use by an SCP declared in a pipeline/,
    );
    const other = createServer().listen(port, '127.0.0.1');
    await new Promise((r) => other.once('listening', r));
    try {
      await bad({ name: 'x', aeTitle: 'OK', port }, new RegExp(`port ${port} is in use`));
    } finally {
      await new Promise((r) => other.close(r));
    }
    const first = await engine.api('/api/scps', json({ name: 'a', aeTitle: 'A', port }));
    expect(first.status).toBe(201);
    await bad({ name: 'b', aeTitle: 'B', port }, /in use by SCP/);
    const r = await engine.api('/api/scps', { method: 'POST', body: '{"name":' });
    expect(r.status).toBe(400);
    expect(await r.text()).toMatch(/Malformed JSON/);
    expect(
      (await engine.api(`/api/scps/${((await first.json()) as { id: number }).id}`, { method: 'DELETE' }))
        .status,
    ).toBe(204);
  });
});

describe('managed watched directories', () => {
  it('starts watching on create, imports and deletes files, stops on delete', async () => {
    const root = join(engine.dataDir, 'watched');
    await mkdir(join(root, 'ward', 'sub'), { recursive: true });
    const r = await engine.api(
      '/api/directorywatches',
      json({ id: -1, name: 'ward', path: join(root, 'ward') }),
    );
    expect(r.status).toBe(201);
    const dir = (await r.json()) as { id: number; path: string };
    expect(dir.path).toBe(join(root, 'ward'));
    // The same path and name answer the same watch.
    const again = await engine.api('/api/directorywatches', json({ name: 'ward', path: 'ward' }));
    expect(await again.json()).toEqual(dir);

    const sop = newUid();
    await writeFile(join(root, 'ward', 'sub', 'one.dcm'), makeInstance({ sopInstanceUid: sop }));
    await eventually(async () => expect(await engine.imagesBySop(sop)).toHaveLength(1));
    await eventually(async () => expect(await readdir(join(root, 'ward', 'sub'))).toEqual([]));
    expect(await sourceOf(sop)).toEqual({ sourceType: 'directory', sourceName: 'ward', sourceId: dir.id });

    expect((await engine.api(`/api/directorywatches/${dir.id}`, { method: 'DELETE' })).status).toBe(204);
    await writeFile(join(root, 'ward', 'two.dcm'), makeInstance({ sopInstanceUid: newUid() }));
    await new Promise((res) => setTimeout(res, 1500));
    expect(await readdir(join(root, 'ward'))).toContain('two.dcm');
  });

  it('refuses missing folders, overlaps and paths outside the watch root', async () => {
    const root = join(engine.dataDir, 'watched');
    await mkdir(join(root, 'a', 'inner'), { recursive: true });
    await writeFile(join(root, 'file'), 'x');
    const created = await engine.api('/api/directorywatches', json({ name: 'a', path: 'a' }));
    expect(created.status).toBe(201);
    const bad = async (body: unknown, reason: RegExp) => {
      const r = await engine.api('/api/directorywatches', json(body));
      expect(r.status).toBe(400);
      expect(await r.text()).toMatch(reason);
    };
    await bad({ name: 'other', path: 'a' }, /already watched as "a"/);
    await bad({ name: 'n', path: 'a/inner' }, /is inside watched directory/);
    await bad({ name: 'n', path: '.' }, /contains watched directory/);
    await bad({ name: 'n', path: 'missing' }, /is not a directory/);
    await bad({ name: 'n', path: 'file' }, /is not a directory/);
    await bad({ name: 'n', path: '../storage' }, /outside the folder watches may be created in/);
    await bad({ name: 'n', path: '/etc' }, /outside the folder watches may be created in/);
    await bad({ name: 'n' }, /path must be a string/);
    const { id } = (await created.json()) as { id: number };
    expect((await engine.api(`/api/directorywatches/${id}`, { method: 'DELETE' })).status).toBe(204);
  });
});

describe('import sessions', () => {
  it('imports good files, counts duplicates and rejects bad ones with the file name', async () => {
    const created = await engine.api(
      '/api/import/sessions',
      json({
        id: -1,
        name: 'batch 1',
        userId: -1,
        user: '',
        filesImported: 9,
        filesAdded: 9,
        filesRejected: 9,
        created: 0,
        lastUpdated: 0,
      }),
    );
    expect(created.status).toBe(201);
    const session = (await created.json()) as { id: number; userId: number; user: string };
    expect(session).toMatchObject({
      name: 'batch 1',
      user: 'admin',
      filesImported: 0,
      filesAdded: 0,
      filesRejected: 0,
    });
    // Same name, same user: the same session.
    expect(await (await engine.api('/api/import/sessions', json({ name: 'batch 1' }))).json()).toEqual(
      session,
    );

    const sop = newUid();
    const file = new Uint8Array(makeInstance({ sopInstanceUid: sop }));
    const upload = (body: BodyInit, headers: Record<string, string> = {}) =>
      engine.api(`/api/import/sessions/${session.id}/images`, { method: 'POST', body, headers });
    const first = await upload(file);
    expect(first.status).toBe(201);
    const image = (await first.json()) as { id: number; sopInstanceUID: { value: string } };
    expect(image.sopInstanceUID.value).toBe(sop);
    expect((await upload(file)).status).toBe(200);
    const form = new FormData();
    form.append('file', new Blob([Buffer.from('not dicom at all')]), 'junk.bin');
    const rejected = await upload(form);
    expect(rejected.status).toBe(400);
    expect(await rejected.text()).toMatch(/^junk\.bin: /);

    const after = await (await engine.api(`/api/import/sessions/${session.id}`)).json();
    expect(after).toMatchObject({ filesImported: 2, filesAdded: 1, filesRejected: 1 });
    const images = (await (await engine.api(`/api/import/sessions/${session.id}/images`)).json()) as Array<{
      id: number;
    }>;
    expect(images.map((i) => i.id)).toEqual([image.id]);
    expect(await sourceOf(sop)).toEqual({
      sourceType: 'import',
      sourceName: 'batch 1',
      sourceId: session.id,
    });
    expect(await sources()).toContainEqual({
      sourceType: 'import',
      sourceName: 'batch 1',
      sourceId: session.id,
    });

    expect(
      (await engine.api('/api/import/sessions/999999/images', { method: 'POST', body: file })).status,
    ).toBe(404);
    expect((await engine.api('/api/import/sessions/999999')).status).toBe(404);
    expect((await engine.api(`/api/import/sessions/${session.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await engine.api(`/api/import/sessions/${session.id}`)).status).toBe(404);
    // The images stay.
    expect(await engine.imagesBySop(sop)).toHaveLength(1);
  });

  it('lets users import into their own sessions only', async () => {
    const basic = (user: string) => ({
      Authorization: `Basic ${Buffer.from(`${user}:pw-${user}`).toString('base64')}`,
    });
    for (const user of ['ann', 'bob'])
      expect(
        (await engine.api('/api/users', json({ user, password: `pw-${user}`, role: 'USER' }))).status,
      ).toBe(201);
    const asUser = (user: string, path: string, init: RequestInit = {}) =>
      fetch(engine.url(path), { ...init, headers: { ...basic(user), ...(init.headers ?? {}) } });
    const r = await asUser('ann', '/api/import/sessions', json({ name: 'ann-s' }));
    expect(r.status).toBe(201);
    const { id } = (await r.json()) as { id: number };
    expect((await asUser('bob', '/api/import/sessions', json({ name: 'ann-s' }))).status).toBe(400);
    expect(
      (
        await asUser('ann', `/api/import/sessions/${id}/images`, {
          method: 'POST',
          body: new Uint8Array(makeInstance()),
        })
      ).status,
    ).toBe(201);
    expect((await asUser('bob', `/api/import/sessions/${id}`, { method: 'DELETE' })).status).toBe(403);
    expect((await asUser('bob', '/api/scps', json({ name: 's', aeTitle: 'S', port: 1 }))).status).toBe(403);
    expect((await asUser('ann', `/api/import/sessions/${id}`, { method: 'DELETE' })).status).toBe(204);
  });
});

describe('restart', () => {
  it('reopens managed SCPs and watches from the state store', async () => {
    const port = await freePort();
    const scp = (await (
      await engine.api('/api/scps', json({ name: 'kept', aeTitle: 'KEPT', port }))
    ).json()) as {
      id: number;
    };
    await mkdir(join(engine.dataDir, 'watched', 'kept'), { recursive: true });
    expect((await engine.api('/api/directorywatches', json({ name: 'kept', path: 'kept' }))).status).toBe(
      201,
    );
    await engine.stop();
    engine = await startTestEngine({ dataDir: engine.dataDir, dicomPort: engine.dicomPort });
    expect((await dcmtk('echoscu', ['127.0.0.1', String(port)])).code).toBe(0);
    const sop = newUid();
    await writeFile(join(engine.dataDir, 'watched', 'kept', 'x.dcm'), makeInstance({ sopInstanceUid: sop }));
    await eventually(async () => expect(await engine.imagesBySop(sop)).toHaveLength(1));
    expect((await engine.api(`/api/scps/${scp.id}`, { method: 'DELETE' })).status).toBe(204);
  });
});

/**
 * Forwarding rules and the durable outbox against real peers on loopback (DCMTK storescp and storescu,
 * Orthanc): delivery, an outage with retries, dead letters retried by hand, keepImages=false, and static
 * forwarding declared in a pipeline file.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startTestEngine, type TestEngine } from './helpers/engine.js';
import { eventually, startOrthanc, startStorescp, type RunningStorescp } from './helpers/peers.js';
import { dcmtk } from './helpers/dcmtk.js';
import { makeInstance, newUid, writeStudy } from './fixtures/dicom-fixtures.js';
import type { ForwardingConfig } from '../src/config.js';

let dir: string;
const cleanups: Array<() => Promise<void>> = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-forwarding-'));
});
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await rm(dir, { recursive: true, force: true });
});

/** Short quiet period and quick retries, so the tests wait for events, not for Slicebox's 30 s. */
const FAST: ForwardingConfig = {
  quietMs: 100,
  batchMax: 500,
  concurrency: 2,
  maxAttempts: 1000,
  retryBaseMs: 100,
  retryMaxMs: 400,
};

async function engineWith(forwarding: Partial<ForwardingConfig> = {}, pipelines?: string[]) {
  const engine = await startTestEngine({
    forwarding: { ...FAST, ...forwarding },
    ...(pipelines ? { pipelines } : {}),
  });
  cleanups.push(() => engine.cleanup());
  return engine;
}

async function storescp(opts: { port?: number } = {}): Promise<RunningStorescp> {
  const peer = await startStorescp(dir, opts);
  cleanups.push(peer.stop);
  return peer;
}

const post = (body: unknown): RequestInit => ({
  method: 'POST',
  body: JSON.stringify(body),
  headers: { 'Content-Type': 'application/json' },
});

async function createScu(engine: TestEngine, name: string, aeTitle: string, port: number): Promise<number> {
  const r = await engine.api('/api/scus', post({ id: -1, name, aeTitle, host: '127.0.0.1', port }));
  expect(r.status).toBe(201);
  return ((await r.json()) as { id: number }).id;
}

async function createRule(
  engine: TestEngine,
  source: { sourceType: string; sourceId: number },
  scuId: number,
  keepImages = true,
) {
  const r = await engine.api(
    '/api/forwarding/rules',
    post({
      id: -1,
      source: { ...source, sourceName: 'x' },
      destination: { destinationType: 'scu', destinationName: 'x', destinationId: scuId },
      keepImages,
    }),
  );
  expect(r.status).toBe(201);
  return (await r.json()) as { id: number; keepImages: boolean; source: unknown };
}

const SCP_SOURCE = { sourceType: 'scp', sourceId: 1 };

async function userSource(engine: TestEngine) {
  const me = (await (await engine.api('/api/users/current')).json()) as { id: number };
  return { sourceType: 'user', sourceId: me.id };
}

async function upload(engine: TestEngine): Promise<{ id: number; sop: string }> {
  const sop = newUid();
  const r = await engine.api('/api/images', {
    method: 'POST',
    body: makeInstance({ sopInstanceUid: sop }) as BodyInit,
  });
  expect(r.status).toBe(201);
  return { id: ((await r.json()) as { id: number }).id, sop };
}

async function logOf(engine: TestEngine, query: string) {
  return (await (await engine.api(`/api/log?count=1000&${query}`)).json()) as Array<{
    entryType: string;
    subject: string;
    message: string;
  }>;
}

async function transactions(engine: TestEngine, query = '') {
  return (await (await engine.api(`/api/forwarding/transactions?${query}`)).json()) as Array<{
    id: number;
    status: string;
    attempts: number;
    lastError: string;
    totalImageCount: number;
    sentImageCount: number;
  }>;
}

describe('forwarding rules', () => {
  it('are created once per source and destination, need an existing SCU, and are deleted', async () => {
    const engine = await engineWith();
    const scuId = await createScu(engine, 'pacs', 'PACS', 10400);
    const unknown = await engine.api(
      '/api/forwarding/rules',
      post({
        id: -1,
        source: { sourceType: 'scp', sourceName: 'x', sourceId: 1 },
        destination: { destinationType: 'scu', destinationName: 'x', destinationId: 999 },
        keepImages: true,
      }),
    );
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toBe('SCU 999 does not exist');
    const rule = await createRule(engine, SCP_SOURCE, scuId, true);
    expect(rule).toEqual({
      id: rule.id,
      source: { sourceType: 'scp', sourceName: 'DICOM SCP', sourceId: 1 },
      destination: { destinationType: 'scu', destinationName: 'pacs', destinationId: scuId },
      keepImages: true,
    });
    // Slicebox: the same source and destination answer the existing rule, unchanged.
    expect(await createRule(engine, SCP_SOURCE, scuId, false)).toEqual(rule);
    expect(await (await engine.api('/api/forwarding/rules')).json()).toEqual([rule]);
    expect((await engine.api(`/api/forwarding/rules/${rule.id}`, { method: 'DELETE' })).status).toBe(204);
    expect(await (await engine.api('/api/forwarding/rules')).json()).toEqual([]);
    // Deleting an SCU takes its rules with it.
    await createRule(engine, SCP_SOURCE, scuId);
    expect((await engine.api(`/api/scus/${scuId}`, { method: 'DELETE' })).status).toBe(204);
    expect(await (await engine.api('/api/forwarding/rules')).json()).toEqual([]);
  });

  it('forward what arrives over DICOM to storescp, once each, and leave the outbox empty', async () => {
    const engine = await engineWith();
    const peer = await storescp();
    await createRule(engine, SCP_SOURCE, await createScu(engine, 'storescp', 'STORESCP', peer.port));
    const study = await writeStudy(join(dir, 'study-a'), {
      series: 2,
      instancesPerSeries: 5,
      rows: 32,
      columns: 32,
    });
    const sent = await dcmtk('storescu', [
      '-aec',
      'SLUICE',
      '127.0.0.1',
      String(engine.dicomPort),
      ...study.files,
    ]);
    expect(sent.code, sent.stderr).toBe(0);
    await eventually('10 instances at storescp', async () => (await peer.sopInstanceUids()).length >= 10);
    await eventually('an empty outbox', async () => (await transactions(engine)).length === 0);
    expect((await peer.sopInstanceUids()).sort()).toEqual([...study.sopInstanceUids].sort());
    const info = await logOf(engine, 'subject=Forwarding&type=INFO');
    expect(
      info.reduce((n, e) => n + Number(/: (\d+) instance\(s\) delivered/.exec(e.message)?.[1] ?? 0), 0),
    ).toBe(10);
  });

  it('deliver every instance exactly once after an outage of the destination, with the retries in the log', async () => {
    const engine = await engineWith();
    const port = await freePort();
    await createRule(engine, SCP_SOURCE, await createScu(engine, 'late', 'STORESCP', port));
    const study = await writeStudy(join(dir, 'study-outage'), {
      series: 5,
      instancesPerSeries: 10,
      rows: 32,
      columns: 32,
    });
    const sent = await dcmtk('storescu', [
      '-aec',
      'SLUICE',
      '127.0.0.1',
      String(engine.dicomPort),
      ...study.files,
    ]);
    expect(sent.code, sent.stderr).toBe(0);
    // Every instance is acknowledged by Sluice while the destination is down; the worker keeps trying.
    await eventually('two failed attempts in the log', async () => {
      const warn = await logOf(engine, 'subject=Forwarding&type=WARN');
      return warn.filter((e) => e.message.includes('ECONNREFUSED')).length >= 2;
    });
    const waiting = await transactions(engine);
    expect(waiting.reduce((n, t) => n + t.totalImageCount - t.sentImageCount, 0)).toBe(50);
    expect(waiting.some((t) => t.status === 'RETRY' && t.attempts >= 1)).toBe(true);

    const peer = await storescp({ port });
    await eventually('an empty outbox', async () => (await transactions(engine)).length === 0);
    const received = await peer.sopInstanceUids();
    expect(received).toHaveLength(50); // storescp runs with unique file names: a second copy would be a file
    expect([...received].sort()).toEqual([...study.sopInstanceUids].sort());
    const warn = await logOf(engine, 'subject=Forwarding&type=WARN');
    expect(warn[warn.length - 1].message).toMatch(
      new RegExp(
        `^Forwarding transaction \\d+: attempt 1 of 1000 to send \\d+ instance\\(s\\) to SCU "late" \\(STORESCP@127\\.0\\.0\\.1:${port}\\) failed: cannot connect to 127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`,
      ),
    );
    const info = await logOf(engine, 'subject=Forwarding&type=INFO');
    expect(
      info.some((e) => /delivered to SCU "late" .* after \d+ failed attempt\(s\)$/.test(e.message)),
    ).toBe(true);
    // The fixtures' patient name and ID appear nowhere in the log.
    const all = await logOf(engine, '');
    expect(all.length).toBeGreaterThan(2);
    for (const e of all) expect(e.message).not.toMatch(/Test\^Patient|TEST001/);
  });

  it('move a batch to the dead letters after the last attempt; a retry by hand delivers it', async () => {
    // Quiet for 1.5 s: the three uploads one after the other make one batch, even on the slower stores.
    const engine = await engineWith({ maxAttempts: 2, retryBaseMs: 50, quietMs: 1500 });
    const port = await freePort();
    await createRule(engine, await userSource(engine), await createScu(engine, 'dead', 'STORESCP', port));
    const images = [await upload(engine), await upload(engine), await upload(engine)];
    await eventually('a dead letter', async () => (await transactions(engine, 'status=FAILED')).length === 1);
    const [dead] = await transactions(engine, 'status=FAILED');
    expect(dead).toMatchObject({ attempts: 2, totalImageCount: 3, sentImageCount: 0 });
    expect(dead.lastError).toContain('ECONNREFUSED');
    const errors = await logOf(engine, 'subject=Forwarding&type=ERROR');
    expect(errors[0].message).toMatch(
      /^Forwarding transaction \d+: 3 instance\(s\) to SCU "dead" .* moved to the dead letters after 2 attempt\(s\): /,
    );
    const items = (await (
      await engine.api(`/api/forwarding/transactions/${dead.id}/images`)
    ).json()) as Array<{
      sopInstanceUid: string;
    }>;
    expect(items.map((i) => i.sopInstanceUid)).toEqual(images.map((i) => i.sop));

    const peer = await storescp({ port });
    const retried = await engine.api(`/api/forwarding/transactions/${dead.id}/retry`, { method: 'POST' });
    expect(retried.status).toBe(200);
    expect(await retried.json()).toMatchObject({ id: dead.id, status: 'RETRY', attempts: 0 });
    await eventually('an empty outbox', async () => (await transactions(engine)).length === 0);
    expect((await peer.sopInstanceUids()).sort()).toEqual(images.map((i) => i.sop).sort());
    expect(
      (await engine.api(`/api/forwarding/transactions/${dead.id}/retry`, { method: 'POST' })).status,
    ).toBe(404);
  });

  it('discard a dead letter through the API', async () => {
    const engine = await engineWith({ maxAttempts: 1 });
    await createRule(
      engine,
      await userSource(engine),
      await createScu(engine, 'gone', 'X', await freePort()),
    );
    await upload(engine);
    await eventually('a dead letter', async () => (await transactions(engine, 'status=FAILED')).length === 1);
    const [dead] = await transactions(engine, 'status=FAILED');
    expect((await engine.api(`/api/forwarding/transactions/${dead.id}`, { method: 'DELETE' })).status).toBe(
      204,
    );
    expect(await transactions(engine)).toEqual([]);
    expect((await logOf(engine, 'subject=Forwarding&type=WARN'))[0].message).toMatch(/discarded$/);
  });

  it('with keepImages=false delete the originals once Orthanc has them', async () => {
    const engine = await engineWith();
    const orthanc = await startOrthanc({ dir: join(dir, 'orthanc-keep') });
    cleanups.push(orthanc.stop);
    const scuId = await createScu(engine, 'orthanc', orthanc.aeTitle, orthanc.dicomPort);
    await createRule(engine, await userSource(engine), scuId, false);
    const images: Array<{ id: number; sop: string }> = [];
    for (let i = 0; i < 5; i++) images.push(await upload(engine));
    await eventually('5 instances at Orthanc', async () => (await orthanc.instanceCount()) === 5);
    await eventually('the originals deleted', async () => {
      for (const image of images) if ((await engine.imagesBySop(image.sop)).length) return false;
      return true;
    });
    expect((await orthanc.sopInstanceUids()).sort()).toEqual(images.map((i) => i.sop).sort());
    for (const image of images) expect((await engine.api(`/api/images/${image.id}`)).status).toBe(404);
  });

  it('forward from an SCP created through the API; deleting the SCP deletes its rules; the log shows both', async () => {
    const engine = await engineWith();
    const peer = await storescp();
    const port = await freePort();
    const created = await engine.api('/api/scps', post({ id: -1, name: 'modality', aeTitle: 'CTSCP', port }));
    expect(created.status).toBe(201);
    const scp = (await created.json()) as { id: number };
    const rule = await createRule(
      engine,
      { sourceType: 'scp', sourceId: scp.id },
      await createScu(engine, 'storescp', 'STORESCP', peer.port),
    );
    expect(rule).toMatchObject({ source: { sourceType: 'scp', sourceName: 'modality', sourceId: scp.id } });
    const study = await writeStudy(join(dir, 'study-managed'), {
      instancesPerSeries: 4,
      rows: 32,
      columns: 32,
    });
    const sent = await dcmtk('storescu', ['-aec', 'CTSCP', '127.0.0.1', String(port), ...study.files]);
    expect(sent.code, sent.stderr).toBe(0);
    await eventually('an empty outbox', async () => (await transactions(engine)).length === 0);
    expect((await peer.sopInstanceUids()).sort()).toEqual([...study.sopInstanceUids].sort());

    expect((await engine.api(`/api/scps/${scp.id}`, { method: 'DELETE' })).status).toBe(204);
    expect(await (await engine.api('/api/forwarding/rules')).json()).toEqual([]);
    expect((await logOf(engine, 'subject=SCP')).map((e) => e.message)).toEqual([
      `SCP ${scp.id} "modality" closed (CTSCP on port ${port})`,
      `SCP ${scp.id} "modality" opened (CTSCP on port ${port})`,
    ]);
  });

  it('can be declared statically in a pipeline file (dicom_forward)', async () => {
    const peer = await storescp();
    const file = join(dir, 'static.yaml');
    await writeFile(
      file,
      [
        'name: static',
        'sources:',
        '  - type: http_upload',
        'sinks:',
        '  - type: storage',
        '  - type: index',
        '  - type: dicom_forward',
        '    name: archive',
        '    ae_title: STORESCP',
        '    host: 127.0.0.1',
        `    port: ${peer.port}`,
        '',
      ].join('\n'),
    );
    const engine = await engineWith({}, [file]);
    const images = [await upload(engine), await upload(engine)];
    await eventually('2 instances at storescp', async () => (await peer.sopInstanceUids()).length >= 2);
    await eventually('an empty outbox', async () => (await transactions(engine)).length === 0);
    expect((await peer.sopInstanceUids()).sort()).toEqual(images.map((i) => i.sop).sort());
  });
});

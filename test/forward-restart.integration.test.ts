/**
 * The outbox survives kill -9: instances acknowledged and queued for forwarding, but not yet sent when the
 * engine dies, are delivered after a restart, once each.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AUTH, freePort } from './helpers/engine.js';
import { startEngineProcess } from './helpers/engine-process.js';
import { eventually, startStorescp } from './helpers/peers.js';
import { dcmtk } from './helpers/dcmtk.js';
import { writeStudy } from './fixtures/dicom-fixtures.js';

const children: ChildProcess[] = [];
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  children.forEach((c) => c.kill('SIGKILL'));
  for (const cleanup of cleanups) await cleanup();
});

/** A temp folder with a data directory, three free ports, and API helpers for the engine on them. */
async function setup(prefix: string) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const dataDir = join(dir, 'data');
  const [httpPort, dicomPort, peerPort] = [await freePort(), await freePort(), await freePort()];
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`http://127.0.0.1:${httpPort}${path}`, {
      ...init,
      headers: { ...AUTH, ...(init.headers ?? {}) },
    });
  const post = (path: string, body: unknown) =>
    api(path, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json' },
    });
  return { dir, dataDir, httpPort, dicomPort, peerPort, api, post };
}

describe('forwarding across a crash', () => {
  it('delivers forwards queued before kill -9 after the restart', async () => {
    const { dir, dataDir, httpPort, dicomPort, peerPort, api, post } = await setup('sluice-fwd-crash-');

    // A quiet period far longer than the test: nothing is sent before the kill.
    let engine = await startEngineProcess(dataDir, httpPort, dicomPort, {
      SLUICE_FORWARD_QUIET_MS: '3600000',
    });
    children.push(engine);
    const scu = (await (
      await post('/api/scus', {
        id: -1,
        name: 'peer',
        aeTitle: 'STORESCP',
        host: '127.0.0.1',
        port: peerPort,
      })
    ).json()) as { id: number };
    const rule = await post('/api/forwarding/rules', {
      id: -1,
      source: { sourceType: 'scp', sourceName: '', sourceId: 1 },
      destination: { destinationType: 'scu', destinationName: '', destinationId: scu.id },
      keepImages: true,
    });
    expect(rule.status).toBe(201);
    const study = await writeStudy(join(dir, 'study'), {
      series: 2,
      instancesPerSeries: 10,
      rows: 32,
      columns: 32,
    });
    const sent = await dcmtk('storescu', ['-aec', 'SLUICE', '127.0.0.1', String(dicomPort), ...study.files]);
    expect(sent.code, sent.stderr).toBe(0);
    const queued = (await (await api('/api/forwarding/transactions')).json()) as Array<{
      status: string;
      totalImageCount: number;
    }>;
    expect(queued).toEqual([expect.objectContaining({ status: 'OPEN', totalImageCount: 20 })]);
    engine.kill('SIGKILL');
    await new Promise((r) => engine.once('exit', r));

    const peer = await startStorescp(dir, { port: peerPort });
    cleanups.push(peer.stop);
    engine = await startEngineProcess(dataDir, httpPort, dicomPort, {
      SLUICE_FORWARD_QUIET_MS: '100',
      SLUICE_FORWARD_RETRY_BASE_MS: '100',
    });
    children.push(engine);
    await eventually('20 instances at storescp', async () => (await peer.sopInstanceUids()).length >= 20);
    await eventually(
      'an empty outbox',
      async () => ((await (await api('/api/forwarding/transactions')).json()) as unknown[]).length === 0,
    );
    const received = await peer.sopInstanceUids();
    expect(received).toHaveLength(20);
    expect([...received].sort()).toEqual([...study.sopInstanceUids].sort());
    engine.kill('SIGTERM');
    await new Promise((r) => engine.once('exit', r));
  });

  it('delivers a batch that was waiting for a retry when the engine was killed', async () => {
    const { dir, dataDir, httpPort, dicomPort, peerPort, api, post } = await setup('sluice-fwd-crash-retry-');

    // The destination is down and the next retry is an hour away when the engine dies.
    let engine = await startEngineProcess(dataDir, httpPort, dicomPort, {
      SLUICE_FORWARD_QUIET_MS: '50',
      SLUICE_FORWARD_RETRY_BASE_MS: '3600000',
    });
    children.push(engine);
    const scu = (await (
      await post('/api/scus', {
        id: -1,
        name: 'peer',
        aeTitle: 'STORESCP',
        host: '127.0.0.1',
        port: peerPort,
      })
    ).json()) as { id: number };
    await post('/api/forwarding/rules', {
      id: -1,
      source: { sourceType: 'scp', sourceName: '', sourceId: 1 },
      destination: { destinationType: 'scu', destinationName: '', destinationId: scu.id },
      keepImages: true,
    });
    const study = await writeStudy(join(dir, 'study'), {
      series: 1,
      instancesPerSeries: 5,
      rows: 32,
      columns: 32,
    });
    expect(
      (await dcmtk('storescu', ['-aec', 'SLUICE', '127.0.0.1', String(dicomPort), ...study.files])).code,
    ).toBe(0);
    const waiting = async () =>
      (await (await api('/api/forwarding/transactions?status=RETRY')).json()) as Array<{ attempts: number }>;
    await eventually('a batch waiting for its retry', async () => (await waiting()).length === 1);
    engine.kill('SIGKILL');
    await new Promise((r) => engine.once('exit', r));

    // The retry time stays as it was (an hour away); a retry by hand sends it now.
    const peer = await startStorescp(dir, { port: peerPort });
    cleanups.push(peer.stop);
    engine = await startEngineProcess(dataDir, httpPort, dicomPort, { SLUICE_FORWARD_QUIET_MS: '50' });
    children.push(engine);
    const [batch] = (await (await api('/api/forwarding/transactions?status=RETRY')).json()) as Array<{
      id: number;
    }>;
    expect((await api(`/api/forwarding/transactions/${batch.id}/retry`, { method: 'POST' })).status).toBe(
      200,
    );
    await eventually(
      'an empty outbox',
      async () => ((await (await api('/api/forwarding/transactions')).json()) as unknown[]).length === 0,
    );
    expect((await peer.sopInstanceUids()).sort()).toEqual([...study.sopInstanceUids].sort());
    engine.kill('SIGTERM');
    await new Promise((r) => engine.once('exit', r));
  });
});

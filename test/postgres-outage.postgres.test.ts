/**
 * The PostgreSQL state store unreachable, at start and while running, on a PostgreSQL server of this file's
 * own (killed and started again): the start stops naming PostgreSQL and the endpoint, never the password;
 * while it is down, an instance whose pipeline needs the state (a forwarding rule's outbox) is refused with
 * 0xA700 over DICOM and 503 over HTTP, health fails naming PostgreSQL, and nothing is acknowledged that was
 * not recorded; once it is back, work resumes without a restart and what was acknowledged is forwarded.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRefusedEngine } from './helpers/engine-process.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startTestEngine, type TestEngine } from './helpers/engine.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { startStorescp, type RunningStorescp } from './helpers/peers.js';
import { eventually } from './helpers/eventually.js';
import { writeStudy } from './fixtures/dicom-fixtures.js';
import { storeFiles } from '../src/dimse/scu/store-scu.js';
import { readStoredFile } from '../src/dimse/scu/stored-files.js';

let server: PostgresServer;
let dir: string;
beforeAll(async () => {
  server = await startPostgres();
  dir = await mkdtemp(join(tmpdir(), 'sluice-pg-outage-'));
});
afterAll(async () => {
  await server?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

const startCli = (env: Record<string, string>) => startRefusedEngine(dir, env);

describe('PostgreSQL unreachable at start', () => {
  it('stops the start naming PostgreSQL, the endpoint and the database, not the password (exit 1)', async () => {
    const closed = await freePort();
    const down = await startCli({ SLUICE_STATE: `postgres://sluice:hunter2@127.0.0.1:${closed}/sluice` });
    expect(down.code).toBe(1);
    expect(down.output).toMatch(
      new RegExp(
        `PostgreSQL at 127\\.0\\.0\\.1:${closed} \\(database sluice\\) is unreachable: .*ECONNREFUSED`,
      ),
    );
    expect(down.output).not.toContain('hunter2');
  });
});

describe('PostgreSQL down while running', () => {
  let engine: TestEngine;
  let peer: RunningStorescp;
  beforeAll(async () => {
    engine = await startTestEngine({
      state: `${server.url}/running`,
      forwarding: { quietMs: 200, retryBaseMs: 200, retryMaxMs: 1000 },
    });
    peer = await startStorescp(dir);
  });
  afterAll(async () => {
    await engine?.cleanup();
    await peer?.stop();
  });

  const health = async () => {
    const r = await engine.api('/api/system/health');
    return { status: r.status, text: await r.text() };
  };
  const post = (body: unknown): RequestInit => ({
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' },
  });

  it('answers 0xA700 and 503 and fails health while it is down, and resumes once it is back', async () => {
    const scu = await engine.api(
      '/api/scus',
      post({ id: -1, name: 'peer', aeTitle: 'STORESCP', host: '127.0.0.1', port: peer.port }),
    );
    expect(scu.status).toBe(201);
    const rule = await engine.api(
      '/api/forwarding/rules',
      post({
        id: -1,
        source: { sourceType: 'scp', sourceName: 'x', sourceId: 1 },
        destination: {
          destinationType: 'scu',
          destinationName: 'x',
          destinationId: ((await scu.json()) as { id: number }).id,
        },
        keepImages: true,
      }),
    );
    expect(rule.status).toBe(201);

    const study = await writeStudy(join(dir, 'phases'), { instancesPerSeries: 9, rows: 64, columns: 64 });
    const files = await Promise.all(study.files.map((f) => readStoredFile(f)));
    const target = { host: '127.0.0.1', port: engine.dicomPort, calledAe: 'SLUICE', callingAe: 'MODALITY' };
    const sent = async (from: number, to: number) =>
      (await storeFiles(target, files.slice(from, to))).map((r) => r.status);

    expect(await sent(0, 3)).toEqual([0, 0, 0]);
    expect((await health()).status).toBe(200);

    await server.stop(true);
    expect(await sent(3, 6)).toEqual([0xa700, 0xa700, 0xa700]);
    const refused = await engine.api('/api/images', {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: new Uint8Array(await readFile(study.files[6])),
    });
    expect(refused.status).toBe(503);
    const down = await health();
    expect(down.status).toBe(503);
    expect(down.text).toMatch(/PostgreSQL at 127\.0\.0\.1:\d+ is unreachable/);
    // The API's sessions live there too: a login is refused as unavailable, not as a wrong password.
    const login = await fetch(engine.url('/api/users/login'), post({ user: 'admin', pass: 'secret' }));
    expect(login.status).toBe(503);

    await server.start();
    await eventually(async () => expect((await health()).status).toBe(200), 10_000);
    expect(await sent(3, 9)).toEqual([0, 0, 0, 0, 0, 0]);
    for (const sop of study.sopInstanceUids) expect(await engine.imagesBySop(sop)).toHaveLength(1);
    // Every instance acknowledged is forwarded once: the outbox kept them across the outage.
    await eventually(
      async () => expect((await peer.sopInstanceUids()).sort()).toEqual([...study.sopInstanceUids].sort()),
      20_000,
    );
  });
});

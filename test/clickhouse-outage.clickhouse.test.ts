/**
 * The ClickHouse index unreachable, at start and while running, on a ClickHouse 18.16 of this file's own
 * (killed and started again): the start stops naming ClickHouse and the endpoint; while it is down, C-STORE
 * answers 0xA700, uploads 503 and health fails, and nothing is acknowledged that is not indexed; once it is
 * back, work resumes without a restart.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRefusedEngine } from './helpers/engine-process.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startTestEngine, type TestEngine } from './helpers/engine.js';
import { startClickHouse, type ClickHouseServer } from './helpers/clickhouse.js';
import { eventually } from './helpers/eventually.js';
import { writeStudy } from './fixtures/dicom-fixtures.js';
import { storeFiles } from '../src/dimse/scu/store-scu.js';
import { readStoredFile } from '../src/dimse/scu/stored-files.js';

let server: ClickHouseServer;
let dir: string;
beforeAll(async () => {
  server = await startClickHouse();
  dir = await mkdtemp(join(tmpdir(), 'sluice-ch-outage-'));
});
afterAll(async () => {
  await server?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

const startCli = (env: Record<string, string>) => startRefusedEngine(dir, env);

describe('ClickHouse unreachable at start', () => {
  it('stops the start naming ClickHouse and the endpoint, not the password (exit 1)', async () => {
    const closed = await freePort();
    const down = await startCli({ SLUICE_INDEX: `http://sluice:hunter2@127.0.0.1:${closed}/sluice` });
    expect(down.code).toBe(1);
    expect(down.output).toMatch(
      new RegExp(`Cannot reach the ClickHouse index at http://127\\.0\\.0\\.1:${closed}: .*ECONNREFUSED`),
    );
    expect(down.output).not.toContain('hunter2');
  });
});

describe('ClickHouse down while running', () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await startTestEngine({ index: `${server.url}/running` });
  });
  afterAll(() => engine?.cleanup());

  const health = async () => {
    const r = await engine.api('/api/system/health');
    return { status: r.status, text: await r.text() };
  };

  it('answers 0xA700 and 503 and fails health while it is down, and resumes once it is back', async () => {
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
    expect(await refused.text()).toMatch(/ClickHouse index at http:\/\/127\.0\.0\.1:\d+ is unreachable/);
    const down = await health();
    expect(down.status).toBe(503);
    expect(down.text).toMatch(/ClickHouse index at http:\/\/127\.0\.0\.1:\d+ is unreachable/);

    await server.start();
    await eventually(async () => expect((await health()).status).toBe(200), 10_000);
    expect(await sent(3, 9)).toEqual([0, 0, 0, 0, 0, 0]);
    for (const sop of study.sopInstanceUids) expect(await engine.imagesBySop(sop)).toHaveLength(1);
  });
});

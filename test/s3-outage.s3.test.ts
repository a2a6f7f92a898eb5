/**
 * S3 unreachable, at start and while running, on a MinIO of this file's own (stopped and started again):
 * the start stops with S3, the endpoint and the bucket named; while it is down, C-STORE answers 0xA700, uploads
 * 503, health and readiness fail, and nothing is acknowledged that is not stored; once it is back, work
 * resumes without a restart.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRefusedEngine } from './helpers/engine-process.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startTestEngine, type TestEngine } from './helpers/engine.js';
import { createTestApp } from './helpers/app.js';
import { startMinio, type MinioServer } from './helpers/minio.js';
import { eventually } from './helpers/eventually.js';
import { followStorescu } from './helpers/peers.js';
import { writeStudy } from './fixtures/dicom-fixtures.js';
import { storeFiles } from '../src/dimse/scu/store-scu.js';
import { readStoredFile } from '../src/dimse/scu/stored-files.js';
import { S3BlobStore } from '../src/storage/s3-blob-store.js';
import { datasetOffset } from '../src/dicom/part10.js';

let minio: MinioServer;
let dir: string;
const suiteEnv = { ...process.env };
beforeAll(async () => {
  minio = await startMinio({ bucket: 'outage' });
  // The SDK reads the endpoint and credentials from the environment, as in production.
  Object.assign(process.env, minio.env, { TEST_S3_BUCKET: minio.bucket });
  dir = await mkdtemp(join(tmpdir(), 'sluice-outage-'));
});
afterAll(async () => {
  Object.assign(process.env, suiteEnv);
  await minio?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

/** The SCP stores the dataset as received behind file meta information of its own. */
const sameDataset = (a: Buffer, b: Buffer) =>
  a.subarray(datasetOffset(a)).equals(b.subarray(datasetOffset(b)));

const startCli = (env: Record<string, string>) => startRefusedEngine(dir, env);

describe('the S3 test project', () => {
  it('gives the engine helpers an S3 store', async () => {
    const engine = await startTestEngine();
    const app = await createTestApp();
    try {
      expect(engine.engine.services.blobs).toBeInstanceOf(S3BlobStore);
      expect(app.blobs).toBeInstanceOf(S3BlobStore);
    } finally {
      await engine.cleanup();
      await app.cleanup();
    }
  });
});

describe('S3 unreachable at start', () => {
  it('stops the start naming S3, the endpoint and the bucket (exit 1)', async () => {
    const closed = await freePort();
    const down = await startCli({
      SLUICE_BLOBS: `s3://${minio.bucket}/x`,
      AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${closed}`,
    });
    expect(down.code).toBe(1);
    expect(down.output).toMatch(
      new RegExp(
        `cannot reach S3 bucket "${minio.bucket}" \\(prefix x/\\) at http://127\\.0\\.0\\.1:${closed}: .*ECONNREFUSED`,
      ),
    );
    const missing = await startCli({ SLUICE_BLOBS: 's3://no-such-bucket' });
    expect(missing.code).toBe(1);
    expect(missing.output).toContain(
      `cannot reach S3 bucket "no-such-bucket" at ${minio.endpoint}: the bucket does not exist`,
    );
  });
});

describe('S3 down while running', () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await startTestEngine({ blobs: { bucket: minio.bucket, prefix: 'running/' } });
  });
  afterAll(() => engine?.cleanup());

  const target = () => ({
    host: '127.0.0.1',
    port: engine.dicomPort,
    calledAe: 'SLUICE',
    callingAe: 'MODALITY',
  });
  const health = async () => {
    const r = await engine.api('/api/system/health');
    return { status: r.status, text: await r.text() };
  };
  const upload = (bytes: Buffer) =>
    engine.api('/api/images', {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: new Uint8Array(bytes),
    });

  it('answers 0xA700 and 503 and fails health while it is down, and resumes once it is back', async () => {
    const study = await writeStudy(join(dir, 'phases'), { instancesPerSeries: 9, rows: 128, columns: 128 });
    const files = await Promise.all(study.files.map((f) => readStoredFile(f)));
    const sent = async (from: number, to: number) =>
      (await storeFiles(target(), files.slice(from, to))).map((r) => r.status);

    expect(await sent(0, 3)).toEqual([0, 0, 0]);
    expect((await health()).status).toBe(200);

    await minio.stop();
    expect(await sent(3, 6)).toEqual([0xa700, 0xa700, 0xa700]);
    const refused = await upload(await readFile(study.files[6]));
    expect(refused.status).toBe(503);
    expect(await refused.text()).toMatch(
      /S3 bucket "outage" \(prefix running\/\) at http:\/\/127\.0\.0\.1:\d+/,
    );
    const down = await health();
    expect(down.status).toBe(503);
    expect(down.text).toMatch(/^blob store: S3 bucket "outage" \(prefix running\/\) at .* does not answer/);
    const ready = await engine.api('/api/system/ready');
    expect(ready.status).toBe(503);
    for (const sop of study.sopInstanceUids.slice(3, 7)) expect(await engine.imagesBySop(sop)).toEqual([]);

    await minio.start();
    await eventually(async () => expect((await health()).status).toBe(200), 10_000);
    expect(await sent(3, 9)).toEqual([0, 0, 0, 0, 0, 0]);
    for (const [n, sop] of study.sopInstanceUids.entries()) {
      const [image] = await engine.imagesBySop(sop);
      const r = await engine.api(`/api/images/${image.id}`);
      expect(sameDataset(Buffer.from(await r.arrayBuffer()), await readFile(study.files[n]))).toBe(true);
    }
  });

  it('loses nothing acknowledged when it stops in the middle of a storescu transfer', async () => {
    const study = await writeStudy(join(dir, 'mid'), {
      series: 2,
      instancesPerSeries: 80,
      rows: 512,
      columns: 512,
    });
    const { acked, failed, exited } = followStorescu([
      '-nh',
      '-aec',
      'SLUICE',
      '127.0.0.1',
      String(engine.dicomPort),
      ...study.files,
    ]);

    while (acked.length < 20) await new Promise((r) => setTimeout(r, 5));
    await minio.stop();
    while (failed() < 5) await new Promise((r) => setTimeout(r, 5));
    const ackedBefore = acked.length;
    await minio.start();
    await exited;

    expect(failed()).toBeGreaterThanOrEqual(5);
    expect(acked.length + failed()).toBe(study.files.length);
    expect(acked.length, 'work resumed after the outage without a restart').toBeGreaterThan(ackedBefore);
    for (const file of acked) {
      const sop = study.sopInstanceUids[study.files.indexOf(file)];
      const [image] = await engine.imagesBySop(sop);
      expect(image, `acknowledged ${file} is not indexed`).toBeDefined();
      const r = await engine.api(`/api/images/${image.id}`);
      expect(sameDataset(Buffer.from(await r.arrayBuffer()), await readFile(file)), `${file} as stored`).toBe(
        true,
      );
    }
    const images = (await (
      await engine.api('/api/metadata/images/query', {
        method: 'POST',
        body: JSON.stringify({ startIndex: 0, count: 10_000, queryProperties: [] }),
      })
    ).json()) as Array<{ sopInstanceUID: { value: string } }>;
    const indexed = new Set(images.map((i) => i.sopInstanceUID.value));
    const ackedSops = new Set(acked.map((f) => study.sopInstanceUids[study.files.indexOf(f)]));
    // What was refused is not indexed either (no row points at an object that was never stored).
    for (const sop of study.sopInstanceUids) expect(indexed.has(sop)).toBe(ackedSops.has(sop));
  });
});

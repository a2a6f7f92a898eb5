/**
 * Operating a real engine: the log lines a storescu association and an upload leave (parsed as JSON), the
 * per-instance lines at debug, no patient data at any level, and `/metrics` counting the same instances.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { dcmtk } from './helpers/dcmtk.js';
import { writeStudy } from './fixtures/dicom-fixtures.js';
import { associateRq } from './helpers/upper-layer.js';
import { connect } from 'node:net';
import { captureLogs, parseMetrics, waitFor, type LogLine } from './helpers/log-capture.js';

const logs = captureLogs('info');
let engine: TestEngine;
let dir: string;
const PATIENT = { patientName: 'Opslog^Secretname', patientId: 'OPS-SECRET-ID' };

beforeAll(async () => {
  engine = await startTestEngine();
  dir = await mkdtemp(join(tmpdir(), 'sluice-ops-'));
});
afterAll(async () => {
  await engine?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

const storescu = (files: string[]) =>
  dcmtk('storescu', ['-aec', 'SLUICE', '-aet', 'MODALITY', '127.0.0.1', String(engine.dicomPort), ...files]);

const metrics = async () => {
  const r = await engine.api('/metrics');
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(await r.text());
};

describe('logs and metrics of a running engine', () => {
  it('logs the start, one summary per association at info and nothing per instance', async () => {
    const started = logs.lines().find((l) => l.msg === 'Sluice started');
    expect(started).toMatchObject({
      level: 30,
      component: 'engine',
      aeTitle: 'SLUICE',
      pipelines: ['default'],
    });
    expect(new Date(started!.time).getTime()).toBeGreaterThan(Date.now() - 120_000);

    const before = await metrics();
    const study = await writeStudy(join(dir, 'a'), { series: 2, instancesPerSeries: 3, ...PATIENT });
    const r = await storescu(study.files);
    expect(r.code, r.stderr).toBe(0);
    const summary = await waitFor(() =>
      logs.lines().find((l) => l.msg === 'association released' && l.callingAe === 'MODALITY'),
    );
    const bytes = (await Promise.all(study.files.map((f) => readFile(f)))).reduce((n, b) => n + b.length, 0);
    expect(summary).toMatchObject({
      level: 30,
      component: 'dicom_scp',
      callingAe: 'MODALITY',
      calledAe: 'SLUICE',
      instances: 6,
      failures: 0,
      how: 'released',
    });
    // Our file meta replaces the sender's, so the bytes are close to, not equal to, the files' sizes.
    expect(Math.abs((summary!.bytes as number) - bytes)).toBeLessThan(6 * 200);
    expect(summary!.durationMs).toBeGreaterThanOrEqual(0);
    expect(logs.lines().filter((l) => l.level < 30)).toEqual([]);

    const after = await metrics();
    const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    expect(delta('sluice_dicom_instances_total{ae="SLUICE",result="success"}')).toBe(6);
    expect(delta('sluice_dicom_associations_total{ae="SLUICE",result="accepted"}')).toBe(1);
    expect(delta('sluice_dicom_received_bytes_total{ae="SLUICE"}')).toBe(summary!.bytes);
    expect(after.get('sluice_dicom_associations_open{ae="SLUICE"}')).toBe(0);
    expect(delta('sluice_component_received_total{pipeline="default",component="sources[0]"}')).toBe(6);
    expect(delta('sluice_instances_stored_total{pipeline="default"}')).toBe(6);
    expect(delta('sluice_pipeline_instances_total{pipeline="default",outcome="acknowledged"}')).toBe(6);
    expect(
      after.get('sluice_component_info{pipeline="default",component="sinks[0]",kind="sink",type="storage"}'),
    ).toBe(1);
    expect(after.get('sluice_pipeline_in_flight{pipeline="default"}')).toBe(0);
    expect(after.get('sluice_pipeline_up{pipeline="default"}')).toBe(1);
    expect(delta('sluice_stage_duration_seconds_count{pipeline="default",component="sinks[0]"}')).toBe(6);
    expect(delta('sluice_stage_bytes_total{pipeline="default",component="sinks[0]"}')).toBeGreaterThan(0);
    expect(after.get('process_resident_memory_bytes')).toBeGreaterThan(10e6);
    expect(after.has('nodejs_eventloop_lag_seconds')).toBe(true);
    expect(
      after.get('sluice_http_requests_total{method="GET",route="/metrics",status="200"}'),
    ).toBeGreaterThanOrEqual(1);
  });

  it('logs each instance at debug, and an upload batch at info', async () => {
    logs.level('debug');
    try {
      const study = await writeStudy(join(dir, 'b'), { series: 1, instancesPerSeries: 2, ...PATIENT });
      expect((await storescu(study.files)).code).toBe(0);
      const stored = await waitFor(() => {
        const l = logs.lines().filter((x) => x.msg === 'instance stored');
        return l.length >= 2 ? l : undefined;
      });
      expect(stored.map((l) => l.sopInstanceUid).sort()).toEqual([...study.sopInstanceUids].sort());
      expect(stored.every((l) => l.level === 20 && l.callingAe === 'MODALITY')).toBe(true);

      const upload = await writeStudy(join(dir, 'c'), { series: 1, instancesPerSeries: 1, ...PATIENT });
      const r = await engine.api('/api/images', { method: 'POST', body: await readFile(upload.files[0]) });
      expect(r.status).toBe(201);
      const batch = await waitFor(
        () => logs.lines().find((l: LogLine) => l.msg === 'uploads' && l.component === 'http_upload'),
        10_000,
      );
      expect(batch).toMatchObject({ level: 30, instances: 1, acknowledged: 1, quarantined: 0 });
      expect(batch!.bytes).toBeGreaterThan(0);
    } finally {
      logs.level('info');
    }
  });

  it('counts and logs a refused association', async () => {
    const before = await metrics();
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const socket = connect(engine.dicomPort, '127.0.0.1', () =>
        socket.write(associateRq({ applicationContext: '1.2.3.4.5' })),
      );
      const chunks: Buffer[] = [];
      socket.on('data', (d) => chunks.push(d));
      socket.on('close', () => resolve(Buffer.concat(chunks)));
      socket.on('error', reject);
    });
    expect(answer[0]).toBe(0x03); // A-ASSOCIATE-RJ
    const after = await metrics();
    const name = 'sluice_dicom_associations_total{ae="SLUICE",result="refused"}';
    expect((after.get(name) ?? 0) - (before.get(name) ?? 0)).toBe(1);
    const line = await waitFor(() => logs.lines().find((l) => l.msg === 'association refused'));
    expect(line).toMatchObject({ level: 40, reason: 'application context not supported', peer: '127.0.0.1' });
  });

  it('never writes a patient name or ID, at any level', () => {
    const all = logs.raw();
    expect(all).toContain('association released');
    for (const secret of ['Secretname', 'OPS-SECRET-ID', 'Opslog']) expect(all).not.toContain(secret);
  });
});

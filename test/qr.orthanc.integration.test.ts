/**
 * Orthanc as a second, independent Query/Retrieve client: configured with Sluice as a modality, its REST
 * API finds a study in Sluice (C-FIND) and pulls it (C-MOVE to Orthanc's own AE title, which Sluice knows
 * as an SCU); what Orthanc stores is byte for byte what Sluice stored.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { startOrthanc, type RunningOrthanc } from './helpers/peers.js';
import { dcmtk } from './helpers/dcmtk.js';
import { writeStudy } from './fixtures/dicom-fixtures.js';
import { datasetOffset } from '../src/dicom/part10.js';

let engine: TestEngine;
let orthanc: RunningOrthanc;
let dir: string;
let study: Awaited<ReturnType<typeof writeStudy>>;

const orthancJson = async (path: string, init?: RequestInit) => {
  const r = await fetch(`${orthanc.base}${path}`, init);
  expect(r.status, `${path}: ${await r.clone().text()}`).toBe(200);
  return r.json() as Promise<any>;
};
const datasetOf = (b: Buffer) => b.subarray(datasetOffset(b));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-qr-orthanc-'));
  engine = await startTestEngine();
  study = await writeStudy(join(dir, 'study'), {
    series: 2,
    instancesPerSeries: 2,
    patientName: 'Orthanc^Pull',
    patientId: 'ORTH-QR',
    studyDate: '20250301',
  });
  const other = await writeStudy(join(dir, 'other'), { patientId: 'ORTH-OTHER', instancesPerSeries: 1 });
  const sent = await dcmtk('storescu', [
    '-aec',
    'SLUICE',
    '127.0.0.1',
    String(engine.dicomPort),
    ...study.files,
    ...other.files,
  ]);
  expect(sent.code, sent.stderr).toBe(0);
  orthanc = await startOrthanc({
    dir: join(dir, 'orthanc'),
    config: { DicomModalities: { sluice: ['SLUICE', '127.0.0.1', engine.dicomPort] } },
  });
  const scu = await engine.api('/api/scus', {
    method: 'POST',
    body: JSON.stringify({
      name: 'orthanc',
      aeTitle: orthanc.aeTitle,
      host: '127.0.0.1',
      port: orthanc.dicomPort,
    }),
  });
  expect(scu.status).toBe(201);
}, 60_000);

afterAll(async () => {
  await orthanc?.stop();
  await engine?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe('Orthanc querying and retrieving from Sluice', () => {
  it('finds the study with /modalities/{id}/query and pulls it with /queries/{id}/retrieve', async () => {
    const query = await orthancJson('/modalities/sluice/query', {
      method: 'POST',
      body: JSON.stringify({
        Level: 'Study',
        Query: { PatientID: 'ORTH-Q*', StudyDate: '20250101-20251231' },
      }),
    });
    const answers = await orthancJson(`/queries/${query.ID}/answers?expand&simplify`);
    expect(answers).toHaveLength(1);
    expect(answers[0]).toMatchObject({ StudyInstanceUID: study.studyInstanceUid, PatientID: 'ORTH-QR' });

    const series = await orthancJson('/modalities/sluice/query', {
      method: 'POST',
      body: JSON.stringify({
        Level: 'Series',
        Query: { StudyInstanceUID: study.studyInstanceUid, SeriesInstanceUID: '' },
      }),
    });
    const seriesAnswers = await orthancJson(`/queries/${series.ID}/answers?expand&simplify`);
    expect(seriesAnswers.map((a: any) => a.SeriesInstanceUID).sort()).toEqual(
      [...study.seriesInstanceUids].sort(),
    );

    await orthancJson(`/queries/${query.ID}/retrieve`, {
      method: 'POST',
      body: JSON.stringify({ TargetAet: orthanc.aeTitle, Synchronous: true }),
    });
    expect((await orthanc.sopInstanceUids()).sort()).toEqual([...study.sopInstanceUids].sort());

    const instances = (await orthancJson('/instances?expand')) as Array<{
      ID: string;
      MainDicomTags: { SOPInstanceUID: string };
    }>;
    for (const instance of instances) {
      const got = Buffer.from(
        await (await fetch(`${orthanc.base}/instances/${instance.ID}/file`)).arrayBuffer(),
      );
      const [image] = await engine.imagesBySop(instance.MainDicomTags.SOPInstanceUID);
      const stored = Buffer.from(await (await engine.api(`/api/images/${image.id}`)).arrayBuffer());
      expect(datasetOf(got).equals(datasetOf(stored))).toBe(true);
    }
  });
});

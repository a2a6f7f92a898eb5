/**
 * De-identification through the engine: the research-anonymize pipeline (watched folder → anonymize →
 * storage → index) beside the default one (whose reverse_anonymize brings returning data back to the real
 * patient), and harmonization under concurrent uploads into an anonymizing pipeline.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dcmjs from 'dcmjs';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { dcmtk } from './helpers/dcmtk.js';
import { makeInstance, newUid } from './fixtures/dicom-fixtures.js';
import { attr, parseHeader } from '../src/dicom/header.js';
import { mapUid } from '../src/anonymization/deid/derive.js';

async function eventually(check: () => Promise<void>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const pixelData = (bytes: Buffer) => {
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
  const dict = dcmjs.data.DicomMessage.readFile(ab).dict as Record<string, { Value: ArrayBuffer[] }>;
  return Buffer.from(dict['7FE00010']!.Value[0]!);
};

describe('research-anonymize beside the default pipeline', () => {
  let engine: TestEngine;
  let dir: string;
  beforeAll(async () => {
    engine = await startTestEngine({
      pipelines: ['pipelines/default.yaml', 'pipelines/research-anonymize.yaml'],
    });
    dir = await mkdtemp(join(tmpdir(), 'sluice-anon-'));
  });
  afterAll(async () => {
    await engine?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('stores only de-identified instances, then recognizes them when they come back', async () => {
    const secret = await readFile(join(engine.dataDir, 'anonymization.secret'));
    const studyInstanceUid = newUid();
    const originals = [1, 2, 3].map((n) =>
      makeInstance({
        patientName: 'Research^Rita',
        patientId: 'RR-100',
        studyInstanceUid,
        studyDate: '20240110',
        instanceNumber: n,
        extra: { InstitutionName: 'Saint Somewhere', AccessionNumber: 'ACC-RR' },
      }),
    );
    const inbox = join(engine.dataDir, 'research-inbox');
    await mkdir(inbox, { recursive: true });
    await Promise.all(originals.map((bytes, i) => writeFile(join(inbox, `${i}.dcm`), bytes)));

    const anonSops = originals.map((b) => mapUid(secret, parseHeader(b).sopInstanceUid));
    const images: Array<{ id: number }> = [];
    await eventually(async () => {
      images.length = 0;
      for (const sop of anonSops) {
        const found = await engine.imagesBySop(sop);
        expect(found).toHaveLength(1);
        images.push(found[0]!);
      }
    });
    // Nothing of the real patient in the index.
    const patients = (await (await engine.api('/api/metadata/patients')).json()) as Array<{
      patientName: { value: string };
      patientID: { value: string };
    }>;
    expect(patients.map((p) => p.patientID.value)).not.toContain('RR-100');

    for (const [i, image] of images.entries()) {
      const stored = Buffer.from(await (await engine.api(`/api/images/${image.id}`)).arrayBuffer());
      const header = parseHeader(stored);
      expect(attr(header, 'PatientIdentityRemoved')).toBe('YES');
      expect(attr(header, 'PatientID')).not.toBe('RR-100');
      expect(attr(header, 'InstitutionName')).toBe('ANONYMIZED'); // X/Z/D: a dummy keeps any IOD valid
      expect(attr(header, 'StudyInstanceUID')).toBe(mapUid(secret, studyInstanceUid));
      expect(attr(header, 'StudyDate')).toMatch(/^\d{8}$/);
      expect(attr(header, 'StudyDate')).not.toBe('20240110');
      expect(pixelData(stored)).toEqual(pixelData(originals[i]!));
      const file = join(dir, `${i}.dcm`);
      await writeFile(file, stored);
      const dump = await dcmtk('dcmdump', ['-q', file]);
      expect(dump.code).toBe(0);
      expect(dump.stdout).not.toContain('Research^Rita');
    }

    // One key per image, one pseudonym for the patient.
    const keys = (await (await engine.api('/api/anonymization/keys?filter=rr-100')).json()) as Array<{
      anonPatientID: string;
      anonStudyInstanceUID: string;
    }>;
    expect(keys).toHaveLength(3);
    expect(new Set(keys.map((k) => k.anonPatientID)).size).toBe(1);

    // Sent back through the default pipeline (reverse_anonymize): found under the real patient again.
    const back = Buffer.from(await (await engine.api(`/api/images/${images[0]!.id}`)).arrayBuffer());
    const upload = await engine.api('/api/images', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array(back),
    });
    expect(upload.status).toBe(201);
    const reversed = (await upload.json()) as { id: number; sopInstanceUID: { value: string } };
    expect(reversed.sopInstanceUID.value).toBe(parseHeader(originals[0]!).sopInstanceUid);
    const real = parseHeader(
      Buffer.from(await (await engine.api(`/api/images/${reversed.id}`)).arrayBuffer()),
    );
    expect(attr(real, 'PatientName')).toBe('Research^Rita');
    expect(attr(real, 'PatientID')).toBe('RR-100');
    expect(attr(real, 'StudyInstanceUID')).toBe(studyInstanceUid);
    expect(attr(real, 'AccessionNumber')).toBe('ACC-RR');
    const after = (await (await engine.api('/api/metadata/patients')).json()) as Array<{
      patientID: { value: string };
    }>;
    expect(after.map((p) => p.patientID.value)).toContain('RR-100');
  });
});

describe('harmonization under concurrent uploads', () => {
  let engine: TestEngine;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-harmonize-'));
    // Plain intake by folder; anonymizing intake by HTTP.
    await writeFile(
      join(dir, 'plain.yaml'),
      [
        'name: plain',
        'sources:',
        '  - type: watch_folder',
        '    name: plain inbox',
        '    path: plain-inbox',
        'sinks:',
        '  - type: storage',
        '  - type: index',
      ].join('\n'),
    );
    await writeFile(
      join(dir, 'anon.yaml'),
      [
        'name: anon',
        'sources:',
        '  - type: http_upload',
        'operators:',
        '  - type: anonymize',
        'sinks:',
        '  - type: storage',
        '  - type: index',
      ].join('\n'),
    );
    engine = await startTestEngine({ pipelines: [join(dir, 'plain.yaml'), join(dir, 'anon.yaml')] });
  });
  afterAll(async () => {
    await engine?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('gives 8 images of one patient uploaded at once the pseudonym its first key set', async () => {
    const patient = { patientName: 'Race^Rosa', patientId: 'RACE-1' };
    const studyInstanceUid = newUid();
    // The first image is stored as it is, then anonymized in place with a chosen pseudonym.
    const first = makeInstance({ ...patient, studyInstanceUid, sopInstanceUid: newUid() });
    const inbox = join(engine.dataDir, 'plain-inbox');
    await mkdir(inbox, { recursive: true });
    await writeFile(join(inbox, 'first.dcm'), first);
    let firstId = 0;
    await eventually(async () => {
      const [image] = await engine.imagesBySop(parseHeader(first).sopInstanceUid);
      expect(image).toBeDefined();
      firstId = image!.id;
    });
    const put = await engine.api(`/api/images/${firstId}/anonymize`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        profile: { options: [] },
        tagValues: [
          { tagPath: { tag: 0x00100010 }, value: 'Trial^Subject 8' },
          { tagPath: { tag: 0x00100020 }, value: 'SUBJ-8' },
        ],
      }),
    });
    expect(put.status).toBe(200);

    // Eight more of the same patient, at once, through the anonymizing upload.
    const files = Array.from({ length: 8 }, (_, i) =>
      makeInstance({ ...patient, studyInstanceUid, instanceNumber: i + 2 }),
    );
    const answers = await Promise.all(
      files.map((body) =>
        engine.api('/api/images', {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream' },
          body: new Uint8Array(body),
        }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(201));
    const images = (await Promise.all(answers.map((a) => a.json()))) as Array<{ id: number }>;
    for (const image of images) {
      const header = parseHeader(
        Buffer.from(await (await engine.api(`/api/images/${image.id}`)).arrayBuffer()),
      );
      expect(attr(header, 'PatientName')).toBe('Trial^Subject 8');
      expect(attr(header, 'PatientID')).toBe('SUBJ-8');
    }
    const keys = (await (
      await engine.api('/api/anonymization/keys?filter=race-1&count=100')
    ).json()) as Array<{
      anonPatientID: string;
      anonStudyInstanceUID: string;
    }>;
    expect(keys).toHaveLength(9);
    expect(new Set(keys.map((k) => k.anonPatientID))).toEqual(new Set(['SUBJ-8']));
    expect(new Set(keys.map((k) => k.anonStudyInstanceUID)).size).toBe(1);
    const patients = (await (await engine.api('/api/metadata/patients?count=100')).json()) as Array<{
      patientID: { value: string };
    }>;
    expect(patients.map((p) => p.patientID.value).filter((id) => id === 'SUBJ-8')).toHaveLength(1);
    expect(patients.map((p) => p.patientID.value)).not.toContain('RACE-1');
  });
});

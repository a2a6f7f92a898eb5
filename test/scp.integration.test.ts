/**
 * DCMTK echoscu/storescu → our SCP on loopback → storage and index → the API.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { dcmtk } from './helpers/dcmtk.js';
import { CT_IMAGE_STORAGE, makeInstance, newUid, writeStudy } from './fixtures/dicom-fixtures.js';
import { associateRq } from './helpers/upper-layer.js';
import { encodePData } from '../src/dimse/pdu.js';
import { encodeResponse } from '../src/dimse/commands.js';

let engine: TestEngine;
let dir: string;

beforeAll(async () => {
  engine = await startTestEngine();
  dir = await mkdtemp(join(tmpdir(), 'sluice-scp-'));
});
afterAll(async () => {
  await engine?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe('dicom_scp with DCMTK', () => {
  it('answers C-ECHO', async () => {
    const r = await dcmtk('echoscu', ['-aec', 'SLUICE', '127.0.0.1', String(engine.dicomPort)]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('stores a study sent by storescu and serves it through the API', async () => {
    const study = await writeStudy(join(dir, 'study1'), {
      series: 3,
      instancesPerSeries: 4,
      patientName: 'Scp^Test',
      patientId: 'SCP1',
    });
    const r = await dcmtk('storescu', [
      '-aec',
      'SLUICE',
      '-aet',
      'MODALITY',
      '127.0.0.1',
      String(engine.dicomPort),
      ...study.files,
    ]);
    expect(r.code, r.stderr).toBe(0);

    const patients = (await (await engine.api('/api/metadata/patients?filter=scp^test')).json()) as any[];
    expect(patients).toHaveLength(1);
    expect(patients[0].patientID.value).toBe('SCP1');
    const studies = (await (
      await engine.api(`/api/metadata/studies?patientid=${patients[0].id}`)
    ).json()) as any[];
    expect(studies.map((s) => s.studyInstanceUID.value)).toEqual([study.studyInstanceUid]);
    const series = (await (
      await engine.api(`/api/metadata/series?studyid=${studies[0].id}`)
    ).json()) as any[];
    expect(series).toHaveLength(3);
    const source = (await (await engine.api(`/api/metadata/series/${series[0].id}/source`)).json()) as any;
    expect(source).toMatchObject({ sourceType: 'scp', sourceId: 1 });

    // Bytes as sent: the stored file is our file meta plus exactly the dataset storescu sent.
    const images = (await (
      await engine.api(`/api/metadata/studies/${studies[0].id}/images`)
    ).json()) as any[];
    expect(images).toHaveLength(12);
    const one = images.find((i) => i.sopInstanceUID.value === study.sopInstanceUids[0]);
    const stored = Buffer.from(await (await engine.api(`/api/images/${one.id}`)).arrayBuffer());
    const original = await readFile(study.files[0]);
    const datasetOf = (b: Buffer) => b.subarray(144 + b.readUInt32LE(140));
    expect(datasetOf(stored).equals(datasetOf(original))).toBe(true);
  });

  it('takes several simultaneous associations', async () => {
    const studies = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        writeStudy(join(dir, `par${i}`), { series: 1, instancesPerSeries: 10, patientId: `PAR${i}` }),
      ),
    );
    const results = await Promise.all(
      studies.map((s) =>
        dcmtk('storescu', ['-aec', 'SLUICE', '127.0.0.1', String(engine.dicomPort), ...s.files]),
      ),
    );
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    for (const s of studies) {
      const found = (await (
        await engine.api('/api/metadata/studies/query', {
          method: 'POST',
          body: JSON.stringify({
            startIndex: 0,
            count: 10,
            queryProperties: [
              { propertyName: 'studyInstanceUID', operator: '=', propertyValue: s.studyInstanceUid },
            ],
          }),
        })
      ).json()) as any[];
      expect(found).toHaveLength(1);
      const imgs = (await (await engine.api(`/api/metadata/studies/${found[0].id}/images`)).json()) as any[];
      expect(imgs).toHaveLength(10);
    }
  });

  it('re-sending the same instance overwrites instead of duplicating', async () => {
    const file = join(dir, 'same.dcm');
    const sop = newUid();
    await writeFile(file, makeInstance({ sopInstanceUid: sop, patientId: 'SAME' }));
    for (let i = 0; i < 2; i++) {
      const r = await dcmtk('storescu', ['-aec', 'SLUICE', '127.0.0.1', String(engine.dicomPort), file]);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(await engine.imagesBySop(sop)).toHaveLength(1);
  });

  it('answers a failure status for an instance it cannot accept, and keeps serving', async () => {
    const bad = join(dir, 'bad-uid.dcm');
    // DCMTK sends it; we refuse a SOP Instance UID that is not a UID (0xC000, quarantined).
    await writeFile(bad, makeInstance({ sopInstanceUid: '1.2.abc.4' }));
    const r = await dcmtk('storescu', ['-v', '-aec', 'SLUICE', '127.0.0.1', String(engine.dicomPort), bad]);
    expect(r.code).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/Received Store Response \(Error: CannotUnderstand\)/);
    const quarantine = (await (await engine.api('/api/quarantine')).json()) as any[];
    expect(quarantine.some((q) => q.source.sourceType === 'scp' && /not a valid UID/.test(q.message))).toBe(
      true,
    );
    expect(JSON.stringify(quarantine)).not.toContain('Test^Patient');

    const good = join(dir, 'good-after-bad.dcm');
    await writeFile(good, makeInstance({ patientId: 'AFTERBAD' }));
    const ok = await dcmtk('storescu', ['-aec', 'SLUICE', '127.0.0.1', String(engine.dicomPort), good]);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('refuses SOP classes that are not storage classes at association', async () => {
    const file = join(dir, 'notstorage.dcm');
    await writeFile(file, makeInstance({ sopClassUid: '1.2.840.10008.1.1' }));
    const r = await dcmtk('storescu', ['-aec', 'SLUICE', '127.0.0.1', String(engine.dicomPort), file]);
    expect(r.code).not.toBe(0);
  });

  it('counts in /api/pipelines', async () => {
    const pipelines = (await (await engine.api('/api/pipelines')).json()) as any[];
    const scp = pipelines[0].components.find((c: any) => c.type === 'dicom_scp');
    expect(scp.counters.received).toBeGreaterThanOrEqual(12 + 40 + 2 + 1);
    expect(scp.counters.quarantined).toBeGreaterThanOrEqual(1);
  });
});

describe('dicom_scp against misbehaving peers', () => {
  const exchange = (bytes: Buffer[], waitMs = 300): Promise<Buffer> =>
    new Promise((resolve) => {
      const socket = connect(engine.dicomPort, '127.0.0.1');
      const got: Buffer[] = [];
      socket.on('data', (d) => got.push(d));
      socket.on('error', () => undefined);
      socket.on('connect', () => bytes.forEach((b) => socket.write(b)));
      setTimeout(() => {
        socket.destroy();
        resolve(Buffer.concat(got));
      }, waitMs);
    });

  it('aborts on garbage and keeps serving others', async () => {
    const answer = await exchange([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]);
    expect(answer[0]).toBe(0x07); // A-ABORT
    const r = await dcmtk('echoscu', ['-aec', 'SLUICE', '127.0.0.1', String(engine.dicomPort)]);
    expect(r.code).toBe(0);
  });

  it('rejects an unknown application context', async () => {
    const answer = await exchange([associateRq({ applicationContext: '1.2.3.4.5' })]);
    expect(answer[0]).toBe(0x03); // A-ASSOCIATE-RJ
    expect(answer[9]).toBe(2); // application context name not supported
  });

  it('discards a dataset cut off by a dropped connection', async () => {
    const command = encodeResponse(
      {
        commandField: 0x0001,
        messageId: 1,
        affectedSopClassUid: CT_IMAGE_STORAGE,
        affectedSopInstanceUid: newUid(),
        hasDataset: true,
      },
      0x0001,
      0,
    );
    // encodeResponse writes CommandDataSetType "no dataset"; patch it to "dataset follows".
    const at = command.indexOf(Buffer.from([0x00, 0x00, 0x00, 0x08]));
    command.writeUInt16LE(0x0000, at + 8);
    const partial = makeInstance().subarray(200, 5000);
    const answer = await exchange([
      associateRq(),
      encodePData(1, true, command),
      encodePData(1, false, partial).subarray(0, 3000),
    ]);
    expect(answer[0]).toBe(0x02); // accepted, then cut off
    await new Promise((r) => setTimeout(r, 100));
    expect(await readdir(join(engine.dataDir, 'landing', 'default', 'tmp'))).toEqual([]);
    const ok = await dcmtk('echoscu', ['-aec', 'SLUICE', '127.0.0.1', String(engine.dicomPort)]);
    expect(ok.code).toBe(0);
  });
});

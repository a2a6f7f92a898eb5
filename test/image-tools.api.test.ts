/**
 * JPEG → Secondary Capture, zip export and attribute modification over real HTTP on a real engine, with
 * DCMTK (`dcmdump`, `dcmj2pnm`, `dcmdjpeg`), dicom3tools (`dciodvfy`) and Info-ZIP `unzip` as the judges.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import dcmjs from 'dcmjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { dcmtk } from './helpers/dcmtk.js';
import { makeInstance, newUid } from './fixtures/dicom-fixtures.js';
import { parseHeader } from '../src/dicom/header.js';

let engine: TestEngine;
let work: string;

beforeAll(async () => {
  engine = await startTestEngine();
  work = await mkdtemp(join(tmpdir(), 'sluice-image-tools-'));
});
afterAll(async () => engine?.cleanup());

interface ImageJson {
  id: number;
  seriesId: number;
  sopInstanceUID: { value: string };
}

const json = async (path: string, init?: RequestInit) => {
  const r = await engine.api(path, init);
  return {
    status: r.status,
    body: r.headers.get('content-type')?.includes('json') ? await r.json() : await r.text(),
  };
};
const upload = async (file: Buffer): Promise<ImageJson> => {
  const r = await engine.api('/api/images', { method: 'POST', body: new Uint8Array(file) });
  expect(r.status).toBe(201);
  return (await r.json()) as ImageJson;
};
const download = async (id: number) =>
  Buffer.from(await (await engine.api(`/api/images/${id}`)).arrayBuffer());
const seriesOf = async (seriesId: number) => (await json(`/api/metadata/series/${seriesId}`)).body as any;
let fileCount = 0;
const toFile = async (bytes: Uint8Array, ext = 'dcm') => {
  const path = join(work, `f${++fileCount}.${ext}`);
  await writeFile(path, bytes);
  return path;
};

/** An 8-bit RGB instance (uncompressed), for DCMTK to turn into a colour JPEG. */
function rgbInstance(rows: number, columns: number): Buffer {
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const sop = newUid();
  const pixels = new Uint8Array(rows * columns * 3);
  for (let i = 0; i < rows * columns; i++) pixels.set([i % 256, (i * 3) % 256, 255 - (i % 256)], i * 3);
  const dict = new DicomDict(
    DicomMetaDictionary.denaturalizeDataset({
      FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
      MediaStorageSOPClassUID: '1.2.840.10008.5.1.4.1.1.7',
      MediaStorageSOPInstanceUID: sop,
      TransferSyntaxUID: '1.2.840.10008.1.2.1',
      ImplementationClassUID: '1.2.826.0.1.3680043.10.1337.1',
    }),
  );
  dict.dict = DicomMetaDictionary.denaturalizeDataset({
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.7',
    SOPInstanceUID: sop,
    Modality: 'OT',
    SamplesPerPixel: 3,
    PhotometricInterpretation: 'RGB',
    PlanarConfiguration: 0,
    Rows: rows,
    Columns: columns,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    PixelData: [pixels.buffer],
    _vrMap: { PixelData: 'OB' },
  });
  return Buffer.from(dict.write());
}

/** A real baseline JPEG, encoded by DCMTK from a synthetic instance. */
async function jpegFrom(instance: Buffer): Promise<Buffer> {
  const out = join(work, `j${++fileCount}.jpg`);
  const r = await dcmtk('dcmj2pnm', ['+oj', await toFile(instance), out]);
  expect(r.code, r.stderr).toBe(0);
  return readFile(out);
}

describe('POST /api/images/jpeg', () => {
  let target: ImageJson;
  let studyId: number;

  beforeAll(async () => {
    target = await upload(
      makeInstance({
        patientName: 'Jpeg^Target',
        patientId: 'JPG1',
        studyDescription: 'Photos',
        extra: { StudyTime: '101500', ReferringPhysicianName: 'Ref^Doc', AccessionNumber: 'ACC9' },
      }),
    );
    studyId = (await seriesOf(target.seriesId)).studyId;
  });

  it.each([
    ['greyscale', () => makeInstance({ rows: 48, columns: 40 }), 48, 40, 'MONOCHROME2'],
    ['colour', () => rgbInstance(24, 32), 24, 32, 'YBR_FULL_422'],
  ])(
    'wraps a %s JPEG into a Secondary Capture in a new series of the study',
    async (_n, make, rows, cols, pi) => {
      const jpeg = await jpegFrom(make());
      const r = await engine.api(`/api/images/jpeg?studyid=${studyId}&description=Camera%20photo`, {
        method: 'POST',
        body: new Uint8Array(jpeg),
        headers: { 'Content-Type': 'image/jpeg' },
      });
      expect(r.status).toBe(201);
      const image = (await r.json()) as ImageJson;
      expect(image.seriesId).not.toBe(target.seriesId);
      const series = await seriesOf(image.seriesId);
      expect(series).toMatchObject({
        studyId,
        seriesDescription: { value: 'Camera photo' },
        modality: { value: 'OT' },
      });
      expect((await json(`/api/metadata/series/${image.seriesId}/source`)).body).toMatchObject({
        sourceType: 'user',
        sourceName: 'admin',
      });

      const stored = await download(image.id);
      const path = await toFile(stored);
      const dump = await dcmtk('dcmdump', [
        '+P',
        '0010,0010',
        '+P',
        '0008,0016',
        '+P',
        '0002,0010',
        '+P',
        '0020,000d',
        '+P',
        '0008,0030',
        '+P',
        '0028,0004',
        '+P',
        '0008,0050',
        path,
      ]);
      expect(dump.code, dump.stderr).toBe(0);
      expect(dump.stdout).toContain('[Jpeg^Target]');
      expect(dump.stdout).toContain('=SecondaryCaptureImageStorage');
      expect(dump.stdout).toContain('=JPEGBaseline');
      expect(dump.stdout).toContain('[101500]');
      expect(dump.stdout).toContain('[ACC9]');
      expect(dump.stdout).toContain(`[${pi}]`);
      // The JPEG rides along untouched, as the one fragment.
      expect(stored.indexOf(jpeg)).toBeGreaterThan(0);

      // dciodvfy checks the Secondary Capture IOD and prints "Error - …" lines for violations. It also warns
      // that an empty Laterality is only for "actually unknown": it is, since a JPEG does not say what body
      // part it shows (leaving Laterality out is an error to dciodvfy). Warnings do not fail the test.
      const verify = await dcmtk('dciodvfy', [path]);
      const report = verify.stdout + verify.stderr;
      expect(report).toMatch(/SCImage/);
      expect(report.split('\n').filter((l) => /^Error/.test(l))).toEqual([]);

      // DCMTK decodes the pixel data to the size the JPEG's frame header gave.
      const decoded = join(work, `d${++fileCount}.dcm`);
      const d = await dcmtk('dcmdjpeg', [path, decoded]);
      expect(d.code, d.stderr).toBe(0);
      const header = parseHeader(await readFile(decoded));
      expect(header.dataset['00280010'].Value).toEqual([rows]);
      expect(header.dataset['00280011'].Value).toEqual([cols]);
    },
  );

  it('answers 404 for an unknown study, 400 for what is not a baseline JPEG or a bad study id', async () => {
    const jpeg = await jpegFrom(makeInstance());
    const post = (query: string, body: Uint8Array) =>
      engine.api(`/api/images/jpeg${query}`, { method: 'POST', body: body as BodyInit });
    expect((await post('?studyid=987654', jpeg)).status).toBe(404);
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const notJpeg = await post(`?studyid=${studyId}`, png);
    expect(notJpeg.status).toBe(400);
    expect(await notJpeg.text()).toMatch(/Invalid JPEG: no SOI/);
    const truncated = await post(`?studyid=${studyId}`, jpeg.subarray(0, jpeg.length - 40));
    expect(truncated.status).toBe(400);
    expect(await truncated.text()).toMatch(/truncated/);
    expect((await post('', jpeg)).status).toBe(400);
    expect((await post(`?studyid=${studyId}&description=${'x'.repeat(65)}`, jpeg)).status).toBe(400);
  });
});

describe('zip export', () => {
  it('exports 200 instances as a zip whose files are the stored bytes, in patient/study/series folders', async () => {
    // 2 patients × 2 studies × 2 series × 25 instances; one patient name holds path characters.
    const originals = new Map<number, Buffer>();
    const files: Buffer[] = [];
    for (const [patientName, patientId] of [
      ['Zip^One', 'ZIP1'],
      ['../Zip/Two', 'ZIP/2'],
    ])
      for (let st = 0; st < 2; st++) {
        const studyInstanceUid = newUid();
        for (let se = 0; se < 2; se++) {
          const seriesInstanceUid = newUid();
          for (let i = 0; i < 25; i++)
            files.push(
              makeInstance({
                patientName,
                patientId,
                studyInstanceUid,
                seriesInstanceUid,
                studyDate: `2026010${st + 1}`,
                modality: se ? 'MR' : 'CT',
                instanceNumber: i + 1,
                rows: 32,
                columns: 32,
              }),
            );
        }
      }
    for (let i = 0; i < files.length; i += 4)
      await Promise.all(
        files.slice(i, i + 4).map(async (file) => originals.set((await upload(file)).id, file)),
      );
    expect(originals.size).toBe(200);

    const ids = [...originals.keys()];
    const created = await json('/api/images/export', {
      method: 'POST',
      body: JSON.stringify([...ids, ids[0]]),
    });
    expect(created.status).toBe(200);
    const exportId = (created.body as { id: number }).id;
    expect(typeof exportId).toBe('number');

    const r = await engine.api(`/api/images/export?id=${exportId}`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-disposition')).toBe('attachment; filename=slicebox-export.zip');
    const zipPath = join(work, 'export.zip');
    await pipeline(Readable.fromWeb(r.body as any), createWriteStream(zipPath));
    const out = join(work, 'unzipped');
    const unzip = await dcmtk('unzip', ['-q', zipPath, '-d', out]);
    expect(unzip.code, unzip.stderr).toBe(0);

    const entries = (await readdir(out, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => relative(out, join(e.parentPath, e.name)));
    expect(entries).toHaveLength(200);
    const layout = /^(\d+)_([^/]+)-([^/]+)\/(\d+)_(\d{8})\/(\d+)_(\d{8})_(CT|MR)\/(\d+)\.dcm$/;
    const patients = new Set<string>();
    for (const entry of entries) {
      const m = layout.exec(entry);
      expect(m, entry).not.toBeNull();
      const id = Number(m![9]);
      const bytes = await readFile(join(out, entry));
      expect(bytes.equals(originals.get(id)!), entry).toBe(true);
      const image = (await json(`/api/metadata/images/${id}`)).body as ImageJson;
      expect(Number(m![6])).toBe(image.seriesId);
      patients.add(`${m![1]}_${m![2]}-${m![3]}`);
    }
    expect([...patients].map((p) => p.replace(/^\d+_/, '')).sort()).toEqual([
      '.._Zip_Two-ZIP_2',
      'Zip^One-ZIP1',
    ]);
  });

  it('fails the download, rather than ending a short zip, when a stored file has vanished', async () => {
    const a = await upload(makeInstance({ patientId: 'ZIPGONE', rows: 256, columns: 256 }));
    const b = await upload(makeInstance({ patientId: 'ZIPGONE' }));
    const created = await json('/api/images/export', { method: 'POST', body: JSON.stringify([a.id, b.id]) });
    const exportId = (created.body as { id: number }).id;
    await engine.engine.services.blobs.delete(b.sopInstanceUID.value);
    const r = await engine.api(`/api/images/export?id=${exportId}`);
    expect(r.status).toBe(200); // the headers left before the file was missed
    await expect(r.arrayBuffer()).rejects.toThrow();
  });

  it('answers 204 for an empty list, 404 for unknown images and sets, 400 for a bad body or id', async () => {
    expect((await json('/api/images/export', { method: 'POST', body: '[]' })).status).toBe(204);
    expect((await json('/api/images/export', { method: 'POST', body: '[987654]' })).status).toBe(404);
    expect((await json('/api/images/export', { method: 'POST', body: '{"ids":[1]}' })).status).toBe(400);
    expect((await json('/api/images/export', { method: 'POST', body: '["1"]' })).status).toBe(400);
    expect((await json('/api/images/export?id=987654')).status).toBe(404);
    expect((await json('/api/images/export?id=x')).status).toBe(400);
    expect((await json('/api/images/export')).status).toBe(400);
  });
});

describe('PUT /api/images/{id}/modify', () => {
  const path = (name: string, previous?: object) => ({ name, ...(previous ? { previous } : {}) });
  const modify = (id: number, mappings: unknown) =>
    json(`/api/images/${id}/modify`, { method: 'PUT', body: JSON.stringify(mappings) });

  it('sets a value inside a sequence item and the patient name, keeping source, series tags and types', async () => {
    const original = makeInstance({
      patientName: 'Modify^Before',
      patientId: 'MOD1',
      extra: {
        ReferencedImageSequence: [
          { ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2', ReferencedSOPInstanceUID: '1.2.3.1' },
          { ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2', ReferencedSOPInstanceUID: '1.2.3.2' },
        ],
      },
    });
    const image = await upload(original);
    const tag = await json(`/api/metadata/series/${image.seriesId}/seriestags`, {
      method: 'POST',
      body: JSON.stringify({ id: -1, name: 'keep-me' }),
    });
    expect(tag.status).toBe(201);
    const type = (
      await json('/api/seriestypes', { method: 'POST', body: JSON.stringify({ id: -1, name: 'Hand' }) })
    ).body as { id: number };
    expect(
      (await engine.api(`/api/metadata/series/${image.seriesId}/seriestypes/${type.id}`, { method: 'PUT' }))
        .status,
    ).toBe(204);

    const r = await modify(image.id, [
      {
        tagPath: {
          tag: 0x00081155,
          name: 'ReferencedSOPInstanceUID',
          previous: { tag: 0x00081140, item: '2' },
        },
        value: '1.2.3.22',
      },
      { tagPath: path('PatientName'), value: 'Modify^After' },
      { tagPath: path('InstitutionName'), value: 'Inserted Hospital' },
    ]);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const modified = r.body as ImageJson;
    expect(modified.id).toBe(image.id); // same SOP instance: same image
    expect(modified.seriesId).not.toBe(image.seriesId); // another patient, so another series

    const stored = await download(modified.id);
    const dump = await dcmtk('dcmdump', [await toFile(stored)]);
    expect(dump.code, dump.stderr).toBe(0);
    expect(dump.stdout).toMatch(/\(0010,0010\) PN \[Modify\^After\]/);
    expect(dump.stdout).toMatch(/\(0008,0080\) LO \[Inserted Hospital\]/);
    const refs = [...dump.stdout.matchAll(/\(0008,1155\) UI \[([^\]]+)\]/g)].map((m) => m[1]);
    expect(refs).toEqual(['1.2.3.1', '1.2.3.22']);
    const pixels = (b: Buffer) => b.subarray(parseHeader(b).pixelDataOffset);
    expect(pixels(stored).equals(pixels(original))).toBe(true);

    expect((await json(`/api/metadata/series/${modified.seriesId}/source`)).body).toMatchObject({
      sourceType: 'user',
      sourceName: 'admin',
    });
    expect((await json(`/api/metadata/series/${modified.seriesId}/seriestags`)).body).toMatchObject([
      { name: 'keep-me' },
    ]);
    expect((await json(`/api/metadata/series/${modified.seriesId}/seriestypes`)).body).toMatchObject([
      { id: type.id, name: 'Hand' },
    ]);
    expect((await json(`/api/metadata/series/${image.seriesId}`)).status).toBe(404); // emptied, gone
    const patient = (await json(`/api/metadata/patients?filter=Modify`)).body as Array<any>;
    expect(patient.map((p) => p.patientName.value)).toEqual(['Modify^After']);
  });

  it('a new SOPInstanceUID makes a new image and removes the old one', async () => {
    const image = await upload(makeInstance({ patientId: 'MOD2' }));
    const sop = newUid();
    const r = await modify(image.id, [{ tagPath: path('SOPInstanceUID'), value: sop }]);
    expect(r.status).toBe(201);
    const modified = r.body as ImageJson;
    expect(modified.id).not.toBe(image.id);
    expect(modified.seriesId).toBe(image.seriesId);
    expect(modified.sopInstanceUID.value).toBe(sop);
    expect((await engine.api(`/api/images/${image.id}`)).status).toBe(404);
    expect(await engine.imagesBySop(image.sopInstanceUID.value)).toEqual([]);
    const header = parseHeader(await download(modified.id));
    expect(header.meta['00020003'].Value).toEqual([sop]);
  });

  it('answers 404 for an unknown image and 400 for bad paths and values, leaving the image as it was', async () => {
    const file = makeInstance({ patientId: 'MOD3' });
    const image = await upload(file);
    expect((await modify(987654, [{ tagPath: path('PatientID'), value: 'X' }])).status).toBe(404);
    const bad: Array<[unknown, RegExp]> = [
      [[{ tagPath: path('NoSuchKeyword'), value: 'X' }], /unknown keyword/],
      [[{ tagPath: path('StudyDate'), value: 'tomorrow' }], /not a valid DA/],
      [
        [{ tagPath: path('PatientID', { name: 'ReferencedImageSequence', item: '1' }), value: 'X' }],
        /does not exist/,
      ],
      [[{ tagPath: path('PatientID'), value: 5 }], /value/],
      [{ tagPath: path('PatientID'), value: 'X' }, /JSON array/],
    ];
    for (const [body, message] of bad) {
      const r = await modify(image.id, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body).toMatch(message);
    }
    expect((await download(image.id)).equals(file)).toBe(true);
  });

  it('is for administrators; a USER may export and import JPEGs', async () => {
    const created = await json('/api/users', {
      method: 'POST',
      body: JSON.stringify({ user: 'viewer', role: 'USER', password: 'viewer-password' }),
    });
    expect(created.status).toBe(201);
    const asUser = { Authorization: `Basic ${Buffer.from('viewer:viewer-password').toString('base64')}` };
    const image = await upload(makeInstance({ patientId: 'MOD4' }));
    const put = await fetch(engine.url(`/api/images/${image.id}/modify`), {
      method: 'PUT',
      headers: asUser,
      body: JSON.stringify([{ tagPath: path('PatientID'), value: 'X' }]),
    });
    expect(put.status).toBe(403);
    const exp = await fetch(engine.url('/api/images/export'), {
      method: 'POST',
      headers: asUser,
      body: JSON.stringify([image.id]),
    });
    expect(exp.status).toBe(200);
    const jpeg = await fetch(engine.url('/api/images/jpeg?studyid=987654'), {
      method: 'POST',
      headers: asUser,
      body: new Uint8Array([0xff, 0xd8]),
    });
    expect(jpeg.status).toBe(404);
  });
});

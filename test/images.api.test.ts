/**
 * /api/images over real HTTP on a real engine: uploads (raw and multipart), overwrite, bad input,
 * download, attributes, deletion, quarantine, authentication.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { makeInstance, newUid, IMPLICIT_VR_LE } from './fixtures/dicom-fixtures.js';
import { buildFileMeta } from '../src/dicom/part10.js';

let engine: TestEngine;

beforeAll(async () => {
  engine = await startTestEngine({ dataDir: await mkdtemp(join(tmpdir(), 'sluice-api-')) });
});
afterAll(async () => engine?.cleanup());

const upload = (body: Uint8Array | FormData, headers: Record<string, string> = {}) =>
  engine.api('/api/images', { method: 'POST', body: body as BodyInit, headers });

describe('POST /api/images', () => {
  it('stores a raw upload (201), overwrites on re-upload (200), serves the same bytes', async () => {
    const sop = newUid();
    const file = makeInstance({ sopInstanceUid: sop, patientName: 'Upload^Raw', patientId: 'UP1' });
    const first = await upload(file, { 'Content-Type': 'application/octet-stream' });
    expect(first.status).toBe(201);
    const image = (await first.json()) as any;
    expect(image).toMatchObject({ sopInstanceUID: { value: sop }, instanceNumber: { value: '1' } });
    expect(typeof image.id).toBe('number');
    expect(typeof image.seriesId).toBe('number');

    const second = await upload(file);
    expect(second.status).toBe(200);
    expect(((await second.json()) as any).id).toBe(image.id);

    const bytes = Buffer.from(await (await engine.api(`/api/images/${image.id}`)).arrayBuffer());
    expect(bytes.equals(file)).toBe(true);
  });

  it('accepts multipart uploads with a "file" part', async () => {
    const form = new FormData();
    form.append('note', 'ignored');
    form.append('file', new Blob([new Uint8Array(makeInstance({ patientId: 'UP2' }))]), 'scan.dcm');
    const r = await upload(form);
    expect(r.status).toBe(201);
  });

  it('stores implicit VR little endian as received', async () => {
    const file = makeInstance({ transferSyntaxUid: IMPLICIT_VR_LE, patientId: 'IMPL' });
    const r = await upload(file);
    expect(r.status).toBe(201);
    const image = (await r.json()) as any;
    const bytes = Buffer.from(await (await engine.api(`/api/images/${image.id}`)).arrayBuffer());
    expect(bytes.equals(file)).toBe(true);
  });

  const bad: Array<[string, () => Uint8Array, RegExp]> = [
    [
      'a text file',
      () => Buffer.from('hello, this is not DICOM at all '.repeat(20)),
      /not a DICOM Part-10 file/,
    ],
    ['an empty body', () => Buffer.alloc(0), /not a DICOM Part-10 file|empty/],
    ['a truncated instance', () => makeInstance().subarray(0, 4000), /truncated|declares/],
    [
      'a dataset without file meta',
      () => {
        const f = makeInstance();
        return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), f.subarray(144 + f.readUInt32LE(140))]);
      },
      /file meta information/,
    ],
    [
      'an unsupported transfer syntax',
      () => {
        const f = makeInstance();
        const meta = buildFileMeta({
          sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
          sopInstanceUid: newUid(),
          transferSyntaxUid: '1.2.840.10008.1.2.4.100',
        });
        return Buffer.concat([meta, f.subarray(144 + f.readUInt32LE(140))]);
      },
      /transfer syntax 1\.2\.840\.10008\.1\.2\.4\.100 is not supported/,
    ],
    [
      'an unsupported SOP class',
      () => makeInstance({ sopClassUid: '1.2.840.10008.3.1.2.3.3' }),
      /not a storage SOP class/,
    ],
    [
      'an absurd element length',
      () => {
        const f = Buffer.from(makeInstance());
        const at = f.indexOf(Buffer.from([0x10, 0x00, 0x10, 0x00, 0x50, 0x4e])); // (0010,0010) PN
        f.writeUInt16LE(0xfff0, at + 6);
        return f;
      },
      /declares 65520 bytes|truncated|Invalid DICOM/,
    ],
  ];
  it.each(bad)('answers 400 with a reason for %s, and quarantines it', async (_name, make, reason) => {
    const before = ((await (await engine.api('/api/quarantine')).json()) as any[]).length;
    const r = await upload(make());
    expect(r.status).toBe(400);
    expect(await r.text()).toMatch(reason);
    const after = (await (await engine.api('/api/quarantine')).json()) as any[];
    expect(after.length).toBe(before + 1);
    expect(after[0]).toMatchObject({ source: { sourceType: 'user' } });
  });

  it('keeps serving after bad input', async () => {
    expect((await upload(makeInstance())).status).toBe(201);
  });
});

describe('images', () => {
  it('lists attributes up to the pixel data, with sequences', async () => {
    const file = makeInstance({
      patientId: 'ATTR',
      extra: {
        ReferencedStudySequence: [
          { ReferencedSOPClassUID: '1.2.840.10008.3.1.2.3.1', ReferencedSOPInstanceUID: '1.2.3.4' },
        ],
      },
    });
    const image = (await (await upload(file)).json()) as any;
    const attrs = (await (await engine.api(`/api/images/${image.id}/attributes`)).json()) as any[];
    expect(attrs.find((a) => a.tagPath.name === 'PatientID')).toMatchObject({
      vr: 'LO',
      values: ['ATTR'],
      namePath: ['PatientID'],
    });
    const inSeq = attrs.find((a) => a.tagPath.name === 'ReferencedSOPInstanceUID');
    expect(inSeq.tagPath.previous).toMatchObject({ name: 'ReferencedStudySequence', item: '1' });
    expect(inSeq.namePath).toEqual(['ReferencedStudySequence', 'ReferencedSOPInstanceUID']);
    expect(attrs.some((a) => a.tagPath.tag === 0x7fe00010)).toBe(false);
  });

  it('deletes images with their file, and empty series, studies and patients', async () => {
    const image = (await (
      await upload(makeInstance({ patientId: 'DEL1', patientName: 'Delete^Me' }))
    ).json()) as any;
    expect((await engine.api(`/api/images/${image.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await engine.api(`/api/images/${image.id}`)).status).toBe(404);
    expect((await engine.api(`/api/metadata/series/${image.seriesId}`)).status).toBe(404);
    const patients = (await (await engine.api('/api/metadata/patients?filter=delete^me')).json()) as any[];
    expect(patients).toHaveLength(0);
    // idempotent bulk delete
    const r = await engine.api('/api/images/delete', {
      method: 'POST',
      body: JSON.stringify([image.id, 999999]),
    });
    expect(r.status).toBe(204);
  });

  it('answers 404 for unknown ids and 400 for malformed ones and bodies', async () => {
    expect((await engine.api('/api/images/987654')).status).toBe(404);
    expect((await engine.api('/api/images/abc')).status).toBe(400);
    expect((await engine.api('/api/images/delete', { method: 'POST', body: '[1,' })).status).toBe(400);
    expect((await engine.api('/api/images/delete', { method: 'POST', body: '{"a":1}' })).status).toBe(400);
  });
});

describe('authentication', () => {
  it('answers 401 without credentials, without a browser challenge', async () => {
    const r = await fetch(engine.url('/api/metadata/patients'));
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBeNull();
    const wrong = await fetch(engine.url('/api/metadata/patients'), {
      headers: { Authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}` },
    });
    expect(wrong.status).toBe(401);
  });
  it('keeps health and information public', async () => {
    expect((await fetch(engine.url('/api/system/health'))).status).toBe(200);
    expect(await (await fetch(engine.url('/api/system/information'))).json()).toMatchObject({
      version: expect.any(String),
    });
  });
  it('lists sources', async () => {
    const sources = (await (await engine.api('/api/sources')).json()) as any[];
    expect(sources).toContainEqual({ sourceType: 'user', sourceName: 'admin', sourceId: 1 });
    expect(sources).toContainEqual({ sourceType: 'scp', sourceName: 'DICOM SCP', sourceId: 1 });
  });
});

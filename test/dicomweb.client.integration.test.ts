/**
 * DICOMweb driven by dicomweb-client (PyPI), a client nobody here wrote, in a virtual environment: it
 * stores with STOW-RS, searches with QIDO-RS (wildcards, fuzzy names, ranges, paging), retrieves instances,
 * series, studies, metadata, bulk data, frames (as stored and decoded) and renders with WADO-RS; what it
 * gets matches the index and the stored bytes. Set SLUICE_SKIP_PYPI=1 where PyPI cannot be reached.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { dcmtk } from './helpers/dcmtk.js';
import { pythonWith, run } from './helpers/python-venv.js';
import { makeInstance, newUid } from './fixtures/dicom-fixtures.js';
import { parseHeader } from '../src/dicom/header.js';
import { pixelSource } from '../src/render/pixels.js';
import { TransferSyntax } from '../src/dicom/transfer-syntax.js';

const skip = process.env.SLUICE_SKIP_PYPI === '1';
const DICOMWEB_CLIENT = 'dicomweb-client==0.61.2';

let engine: TestEngine;
let dir: string;
let out: string;
let result: any;
const study = newUid();
const series = [newUid(), newUid()];
const sops: string[] = [];
let plainSop: string;
let compressedSop: string;
let plainPixels: Buffer;
let compressedOriginalPixels: Buffer;
const ROWS = 24;
const COLUMNS = 20;

async function file(
  name: string,
  seriesIndex: number,
  number: number,
): Promise<{ path: string; bytes: Buffer }> {
  const sop = newUid();
  sops.push(sop);
  const bytes = makeInstance({
    patientName: 'Dicomweb^Client',
    patientId: 'DW-1',
    studyInstanceUid: study,
    studyDate: '20250315',
    seriesInstanceUid: series[seriesIndex],
    seriesDescription: `Series ${seriesIndex + 1}`,
    sopInstanceUid: sop,
    instanceNumber: number,
    rows: ROWS,
    columns: COLUMNS,
  });
  const path = join(dir, `${name}.dcm`);
  await writeFile(path, bytes);
  return { path, bytes };
}
const pixelsOf = (bytes: Buffer) => bytes.subarray(bytes.length - ROWS * COLUMNS * 2);

async function storedFile(sop: string): Promise<Buffer> {
  const [image] = await engine.imagesBySop(sop);
  return Buffer.from(await (await engine.api(`/api/images/${image.id}`)).arrayBuffer());
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-dicomweb-'));
  out = join(dir, 'out');
  await run('mkdir', ['-p', out], 5000);
  engine = await startTestEngine();
  const files = [await file('a', 0, 1), await file('b', 0, 2), await file('c', 1, 1)];
  plainSop = sops[0];
  plainPixels = pixelsOf(files[0].bytes);
  const raw = await file('d', 1, 2);
  compressedSop = sops[3];
  compressedOriginalPixels = pixelsOf(raw.bytes);
  const jls = join(dir, 'd-jls.dcm');
  expect((await dcmtk('dcmcjpls', [raw.path, jls])).code).toBe(0);
  const config = {
    url: engine.url('/dicom-web'),
    user: 'admin',
    password: 'secret',
    out,
    files: [...files.map((f) => f.path), jls],
    patientId: 'DW-1',
    plainSop,
    compressedSop,
  };
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  if (skip) return;
  const python = await pythonWith('dicomweb', [DICOMWEB_CLIENT]);
  const r = await run(python, ['test/fixtures/dicomweb_client_drive.py', join(dir, 'config.json')], 180_000);
  expect(r.code, r.stderr.slice(-3000)).toBe(0);
  result = JSON.parse(r.stdout);
}, 900_000);

afterAll(async () => {
  await engine?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(skip)('DICOMweb with dicomweb-client', () => {
  it('stores with STOW-RS and finds with QIDO-RS what the index holds', async () => {
    expect(result.stored).toEqual([...sops].sort());
    expect(result.storedRetrieveUrl).toBe(engine.url(`/dicom-web/studies/${study}`));
    expect(result.studies).toEqual([
      {
        uid: study,
        modalities: ['CT'],
        instances: 4,
        name: 'Dicomweb^Client',
        retrieveUrl: result.storedRetrieveUrl,
      },
    ]);
    // The index behind the API says the same: four images of that study, one patient DW-1.
    const flat = (await (await engine.api('/api/metadata/flatseries?count=100')).json()) as any[];
    const ours = flat.filter((f) => f.study.studyInstanceUID.value === study);
    expect(ours.map((f) => f.patient.patientID.value)).toEqual(['DW-1', 'DW-1']);
    expect((await Promise.all(sops.map((s) => engine.imagesBySop(s)))).every((i) => i.length === 1)).toBe(
      true,
    );
    expect([result.fuzzy, result.notFuzzy, result.wildcard, result.dateRange]).toEqual([1, 0, 1, 1]);
    expect(result.series).toEqual(
      [
        [series[0], 'Series 1'],
        [series[1], 'Series 2'],
      ].sort(),
    );
    expect(result.allSeries).toBe(2);
    expect(result.instances).toEqual([...sops].sort());
    expect(result.page).toEqual(result.pageAll.slice(1, 3));
    expect(result.badQuery).toBe(400);
  });

  it('retrieves instances, series and studies with WADO-RS, byte for byte as stored', async () => {
    for (const sop of sops) {
      expect(result.retrieved[sop].patientId).toBe('DW-1');
      expect((await readFile(join(out, `${sop}.dcm`))).equals(await storedFile(sop))).toBe(true);
    }
    expect([result.seriesRetrieved, result.studyRetrieved]).toEqual([4, 4]);
  });

  it('answers metadata with bulk data URIs, and bulk data, frames and renders', async () => {
    const first = series[0] < series[1] ? 0 : 1;
    expect(result.metadata.map((m: any) => m.sop).sort()).toEqual(
      (first === 0 ? sops.slice(0, 2) : sops.slice(2)).sort(),
    );
    expect(result.metadata[0]).toMatchObject({ patientId: 'DW-1', transferSyntax: expect.any(String) });
    expect(result.metadata[0].pixelData).toMatch(/\/bulk\/7FE00010$/);
    expect(result.instanceMetadata).toBe('Dicomweb^Client');
    expect(result.bulkPixelBytes).toBe(ROWS * COLUMNS * 2);

    expect((await readFile(join(out, 'plain-frame'))).equals(plainPixels)).toBe(true);
    const stored = await storedFile(compressedSop);
    expect(parseHeader(stored).transferSyntaxUid).toBe(TransferSyntax.JpegLsLossless);
    const encoded = Buffer.from(pixelSource(stored, parseHeader(stored)).encodedFrame(0)!);
    expect((await readFile(join(out, 'compressed-frame-as-stored'))).equals(encoded)).toBe(true);
    expect((await readFile(join(out, 'compressed-frame-decoded'))).equals(compressedOriginalPixels)).toBe(
      true,
    );
    for (const png of ['rendered.png', 'frame-rendered.png']) {
      const bytes = await readFile(join(out, png));
      expect(bytes.subarray(1, 4).toString()).toBe('PNG');
      expect([bytes.readUInt32BE(16), bytes.readUInt32BE(20)]).toEqual([COLUMNS, ROWS]);
    }
  });

  it('serves thumbnails, and refuses what it cannot give or take with the standard statuses', async () => {
    const base = `/dicom-web/studies/${study}`;
    for (const path of [
      `${base}/thumbnail`,
      `${base}/series/${series[0]}/thumbnail`,
      `${base}/series/${series[0]}/instances/${plainSop}/thumbnail`,
    ]) {
      const r = await engine.api(path);
      expect(r.status, path).toBe(200);
      expect(r.headers.get('content-type')).toBe('image/png');
    }
    const instance = `${base}/series/${series[0]}/instances/${plainSop}`;
    expect((await engine.api(`${instance}/rendered`, { headers: { Accept: 'image/jpeg' } })).status).toBe(
      406,
    );
    const jpeg = `multipart/related; type="application/dicom"; transfer-syntax=${TransferSyntax.JpegBaseline}`;
    expect((await engine.api(instance, { headers: { Accept: jpeg } })).status).toBe(406);
    expect((await fetch(engine.url('/dicom-web/studies'))).status).toBe(401);
    const notMultipart = await engine.api('/dicom-web/studies', {
      method: 'POST',
      headers: { 'Content-Type': 'application/dicom' },
      body: new Uint8Array(await storedFile(plainSop)),
    });
    expect(notMultipart.status).toBe(415);
  });
});

/** A STOW-RS body of the given parts (each a Part-10 file, or anything). */
function stowBody(parts: Buffer[]): { body: Blob; contentType: string } {
  const boundary = 'stow-test-boundary';
  const chunks = parts.flatMap((p) => [
    Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
    p,
    Buffer.from('\r\n'),
  ]);
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    body: new Blob([Buffer.concat(chunks)]),
    contentType: `multipart/related; type="application/dicom"; boundary=${boundary}`,
  };
}

describe('STOW-RS answers', () => {
  it('stores what it can and names what it cannot, with the standard failure reasons', async () => {
    const good = makeInstance({ patientId: 'DW-STOW', sopInstanceUid: newUid() });
    const { body, contentType } = stowBody([Buffer.from('not DICOM at all'), good]);
    const r = await engine.api('/dicom-web/studies', {
      method: 'POST',
      headers: { 'Content-Type': contentType },
      body,
    });
    expect(r.status).toBe(202);
    expect(r.headers.get('content-type')).toBe('application/dicom+json');
    expect(r.headers.get('warning')).toMatch(/^299 sluice "Invalid DICOM data/);
    const answer = (await r.json()) as any;
    expect(answer['00081198'].Value).toEqual([
      { '00081150': { vr: 'UI' }, '00081155': { vr: 'UI' }, '00081197': { vr: 'US', Value: [0xc000] } },
    ]);
    const [referenced] = answer['00081199'].Value;
    const sop = parseHeader(good).sopInstanceUid;
    expect(referenced['00081155']).toEqual({ vr: 'UI', Value: [sop] });
    expect(referenced['00081190'].Value[0]).toMatch(new RegExp(`/instances/${sop}$`));
    expect(await engine.imagesBySop(sop)).toHaveLength(1);

    const other = makeInstance({ sopInstanceUid: newUid() });
    const wrongStudy = stowBody([other]);
    const refused = await engine.api(`/dicom-web/studies/${study}`, {
      method: 'POST',
      headers: { 'Content-Type': wrongStudy.contentType },
      body: wrongStudy.body,
    });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as any)['00081198'].Value[0]['00081197']).toEqual({
      vr: 'US',
      Value: [0xa900],
    });
    expect(await engine.imagesBySop(parseHeader(other).sopInstanceUid)).toHaveLength(0);
    const truncated = await engine.api('/dicom-web/studies', {
      method: 'POST',
      headers: { 'Content-Type': contentType },
      body: body.slice(0, 40),
    });
    expect(truncated.status).toBe(400);
  });
});

/**
 * DICOMweb routes through app.request(): QIDO-RS parameters and their 400s, WADO-RS transfer syntax
 * negotiation (as stored, explicit ↔ implicit VR, decompression), frames and bulk data, and the multipart
 * reader STOW-RS streams parts with.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, basic, createTestApp, type TestApp } from './helpers/app.js';
import { dcmtk } from './helpers/dcmtk.js';
import { makeInstance, newUid } from './fixtures/dicom-fixtures.js';
import { parseHeader } from '../src/dicom/header.js';
import { datasetOffset, splitPart10 } from '../src/dicom/part10.js';
import { TransferSyntax } from '../src/dicom/transfer-syntax.js';
import { explicitToImplicitLittleEndian } from '../src/dicom/implicit-vr.js';
import { multipartParts } from '../src/api/dicom-web/multipart-reader.js';
import { parseAccept } from '../src/api/dicom-web/media.js';

let t: TestApp;
const auth = basic(ADMIN.user, ADMIN.password);
const study = newUid();
const seriesUid = newUid();
const sops = { explicit: newUid(), implicit: newUid(), jls: newUid() };
const originals: Record<string, Buffer> = {};

async function put(name: keyof typeof sops, bytes: Buffer): Promise<void> {
  const path = join(t.dir, `${name}.dcm`);
  await writeFile(path, bytes);
  const header = parseHeader(bytes);
  await t.blobs.putFile(header.sopInstanceUid, path);
  await t.index.upsert({
    header,
    origin: { sourceType: 'user', sourceId: 1, sourceName: 'test' },
    size: bytes.length,
  });
}

const instance = (name: keyof typeof sops) =>
  `/dicom-web/studies/${study}/series/${seriesUid}/instances/${sops[name]}`;
const get = (path: string, accept?: string) =>
  t.app.request(path, { headers: { ...auth, ...(accept ? { Accept: accept } : {}) } });

/** The parts of a multipart response: their Content-Type and bytes. */
async function parts(response: Response): Promise<Array<{ type: string; bytes: Buffer }>> {
  const boundary = /boundary=([^;]+)/.exec(response.headers.get('content-type') ?? '')![1];
  const body = Buffer.from(await response.arrayBuffer());
  const out: Array<{ type: string; bytes: Buffer }> = [];
  for await (const part of multipartParts([body], boundary)) {
    const chunks: Buffer[] = [];
    for await (const chunk of part.body) chunks.push(chunk as Buffer);
    out.push({ type: part.headers.get('content-type') ?? '', bytes: Buffer.concat(chunks) });
  }
  return out;
}

beforeAll(async () => {
  t = await createTestApp();
  const spec = {
    studyInstanceUid: study,
    seriesInstanceUid: seriesUid,
    patientId: 'ROUTES-1',
    rows: 8,
    columns: 8,
  };
  originals.explicit = makeInstance({ ...spec, sopInstanceUid: sops.explicit, instanceNumber: 1 });
  originals.implicit = makeInstance({
    ...spec,
    sopInstanceUid: sops.implicit,
    instanceNumber: 2,
    transferSyntaxUid: TransferSyntax.ImplicitVRLittleEndian,
  });
  originals.jls = makeInstance({ ...spec, sopInstanceUid: sops.jls, instanceNumber: 3 });
  await put('explicit', originals.explicit);
  await put('implicit', originals.implicit);
  const raw = join(t.dir, 'raw.dcm');
  const jls = join(t.dir, 'jls-source.dcm');
  await writeFile(raw, originals.jls);
  expect((await dcmtk('dcmcjpls', [raw, jls])).code).toBe(0);
  await put('jls', await (await import('node:fs/promises')).readFile(jls));
});
afterAll(() => t?.cleanup());

describe('QIDO-RS', () => {
  it('answers DICOM JSON with the level defaults, includefield, paging and lists', async () => {
    const r = await get(`/dicom-web/studies?PatientID=ROUTES-1`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/dicom+json');
    const [s] = (await r.json()) as any[];
    expect(s['0020000D']).toEqual({ vr: 'UI', Value: [study] });
    expect(s['00201208']).toEqual({ vr: 'IS', Value: [3] });
    expect(s['00100010']).toEqual({ vr: 'PN', Value: [{ Alphabetic: 'Test^Patient' }] });
    expect(s['00081190'].Value[0]).toMatch(new RegExp(`/dicom-web/studies/${study}$`));

    const all = (await (
      await get(`/dicom-web/studies/${study}/series/${seriesUid}/instances?includefield=all`)
    ).json()) as any[];
    expect(all.map((i) => i['00200013'].Value[0])).toEqual([1, 2, 3]);
    expect(all[0]['00280010']).toEqual({ vr: 'US', Value: [8] });
    const page = (await (
      await get(`/dicom-web/instances?StudyInstanceUID=${study}&limit=1&offset=2`)
    ).json()) as any[];
    expect(page.map((i) => i['00080018'].Value[0])).toEqual([sops.jls]);
    const listed = (await (
      await get(`/dicom-web/instances?SOPInstanceUID=${sops.jls},${sops.explicit}`)
    ).json()) as any[];
    expect(listed).toHaveLength(2);
    const byTag = (await (
      await get(`/dicom-web/series?0020000D=${study}&includefield=00080070`)
    ).json()) as any[];
    expect(byTag[0]['00080070']).toEqual({ vr: 'LO', Value: ['SluiceTest'] });
  });

  it('says why a search is refused (400), and ignores with a warning what the index does not hold', async () => {
    const refused = async (query: string, message: RegExp) => {
      const r = await get(`/dicom-web/studies?${query}`);
      expect(r.status, query).toBe(400);
      expect(await r.text()).toMatch(message);
    };
    await refused('NoSuchAttribute=1', /not a DICOM attribute/);
    await refused('StudyDate=2024', /not a date/);
    await refused('StudyInstanceUID=1.2.*', /wildcards/);
    await refused('00081111.00081150=1.2', /nested attributes/);
    await refused('Modality=CT', /SERIES attribute/);
    await refused('limit=x', /limit must be/);
    await refused('fuzzymatching=maybe', /fuzzymatching must be/);
    const r = await get(`/dicom-web/studies?PatientWeight=70&PatientID=ROUTES-1`);
    expect(r.status).toBe(200);
    expect(r.headers.get('warning')).toMatch(/^299 sluice "PatientWeight cannot be matched/);
    expect((await get('/dicom-web/studies/1.2.3/series')).status).toBe(200);
    expect((await get('/dicom-web/studies/not-a-uid/series')).status).toBe(400);
    // What DICOMweb does not serve here is a 404 (401 without a login), never the web UI's page.
    expect((await get('/dicom-web/workitems')).status).toBe(404);
    expect((await t.app.request('/dicom-web/workitems')).status).toBe(401);
  });
});

describe('WADO-RS', () => {
  it('serves the stored bytes for transfer-syntax=*, and explicit VR little endian by default', async () => {
    const stored = await parts(
      await get(instance('implicit'), 'multipart/related; type="application/dicom"; transfer-syntax=*'),
    );
    expect(stored).toHaveLength(1);
    expect(stored[0].type).toBe(
      `application/dicom; transfer-syntax=${TransferSyntax.ImplicitVRLittleEndian}`,
    );
    expect(stored[0].bytes.equals(originals.implicit)).toBe(true);

    const [explicit] = await parts(await get(instance('implicit')));
    expect(explicit.type).toBe(`application/dicom; transfer-syntax=${TransferSyntax.ExplicitVRLittleEndian}`);
    const header = parseHeader(explicit.bytes);
    expect(header.transferSyntaxUid).toBe(TransferSyntax.ExplicitVRLittleEndian);
    expect(header.dataset).toEqual(parseHeader(originals.implicit).dataset);
    expect(explicit.bytes.subarray(-128).equals(originals.implicit.subarray(-128))).toBe(true);
  });

  it('re-encodes explicit VR in implicit VR, and decompresses, when Accept asks for it', async () => {
    const [implicit] = await parts(
      await get(
        instance('explicit'),
        `multipart/related; type="application/dicom"; transfer-syntax=${TransferSyntax.ImplicitVRLittleEndian}`,
      ),
    );
    const { dataset } = splitPart10(originals.explicit, TransferSyntax.ExplicitVRLittleEndian);
    expect(
      implicit.bytes.subarray(datasetOffset(implicit.bytes)).equals(explicitToImplicitLittleEndian(dataset)),
    ).toBe(true);

    const study_ = await parts(await get(`/dicom-web/studies/${study}`));
    expect(study_.map((p) => p.type)).toEqual(
      Array(3).fill(`application/dicom; transfer-syntax=${TransferSyntax.ExplicitVRLittleEndian}`),
    );
    const decompressed = study_.find((p) => parseHeader(p.bytes).sopInstanceUid === sops.jls)!;
    expect(decompressed.bytes.subarray(-128).equals(originals.jls.subarray(-128))).toBe(true);

    const notAcceptable = await get(
      instance('explicit'),
      `multipart/related; type="application/dicom"; transfer-syntax=${TransferSyntax.JpegBaseline}`,
    );
    expect(notAcceptable.status).toBe(406);
    // The first acceptable range that can be served wins.
    const fallback = await get(
      instance('explicit'),
      `multipart/related; type="application/dicom"; transfer-syntax=${TransferSyntax.JpegBaseline}, multipart/related; type="application/dicom"; transfer-syntax=*;q=0.5`,
    );
    expect((await parts(fallback))[0].bytes.equals(originals.explicit)).toBe(true);
  });

  it('serves frames and bulk data, 404 for a frame that is not there', async () => {
    const pixels = originals.explicit.subarray(-128);
    const [frame] = await parts(await get(`${instance('explicit')}/frames/1`));
    expect(frame.type).toBe(
      `application/octet-stream; transfer-syntax=${TransferSyntax.ExplicitVRLittleEndian}`,
    );
    expect(frame.bytes.equals(pixels)).toBe(true);
    const [jls] = await parts(await get(`${instance('jls')}/frames/1`));
    expect(jls.type).toBe(`image/jls; transfer-syntax=${TransferSyntax.JpegLsLossless}`);
    const [decoded] = await parts(
      await get(`${instance('jls')}/frames/1`, 'multipart/related; type="application/octet-stream"'),
    );
    expect(decoded.bytes.equals(originals.jls.subarray(-128))).toBe(true);
    expect((await get(`${instance('explicit')}/frames/2`)).status).toBe(404);
    expect((await get(`${instance('explicit')}/frames/0`)).status).toBe(400);
    const [bulk] = await parts(await get(`${instance('explicit')}/bulk/7FE00010`));
    expect(bulk.bytes.equals(pixels)).toBe(true);
    const metadata = (await (await get(`${instance('explicit')}/metadata`)).json()) as any[];
    expect(metadata[0]['7FE00010'].BulkDataURI).toMatch(/\/bulk\/7FE00010$/);
    expect(metadata[0]['00280030']).toBeUndefined();
    expect(metadata[0]['00281050']).toEqual({ vr: 'DS', Value: [40] });
    expect((await get(`/dicom-web/studies/${newUid()}`)).status).toBe(404);
  });
});

describe('media types and multipart', () => {
  it('orders Accept by quality, and reads a multipart/related body split anywhere', async () => {
    expect(
      parseAccept(
        'image/png;q=0.2, multipart/related; type="image/jls"; transfer-syntax=1.2.840.10008.1.2.4.80',
      ),
    ).toEqual([
      { mediaType: 'image/jls', transferSyntax: '1.2.840.10008.1.2.4.80', multipart: true },
      { mediaType: 'image/png', transferSyntax: undefined, multipart: false },
    ]);
    const body = Buffer.from(
      'preamble\r\n--XyZ\r\nContent-Type: application/dicom\r\n\r\nfirst\r\n--XyZ\r\n\r\nsecond\r\npart\r\n--XyZ--\r\nepilogue',
    );
    for (const size of [1, 3, 7, body.length]) {
      const chunks = Array.from({ length: Math.ceil(body.length / size) }, (_, i) =>
        body.subarray(i * size, (i + 1) * size),
      );
      const got: string[] = [];
      for await (const part of multipartParts(Readable.from(chunks), 'XyZ')) {
        let text = '';
        for await (const c of part.body) text += c.toString();
        got.push(`${part.headers.get('content-type') ?? '-'}:${text}`);
      }
      expect(got).toEqual(['application/dicom:first', '-:second\r\npart']);
    }
    const truncated = multipartParts([Buffer.from('--XyZ\r\n\r\nno end')], 'XyZ');
    await expect(async () => {
      for await (const part of truncated) part.body.resume();
    }).rejects.toThrow(/before its closing boundary/);
  });
});

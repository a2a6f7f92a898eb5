import dcmjs from 'dcmjs';
import { Hono } from 'hono';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { metadataRoutes } from './metadata.js';
import { onError } from '../problem.js';
import type { ApiDeps } from '../deps.js';
import { openSqliteIndex } from '../../storage/sqlite-index.js';
import type { DicomHeader } from '../../dicom/header.js';
import type { Origin } from '../../pipeline/origin.js';
import type { MetadataIndex } from '../../storage/metadata-index.js';

const { DicomMetaDictionary } = dcmjs.data;

function header(attributes: Record<string, string>): DicomHeader {
  const dataset: DicomHeader['dataset'] = {};
  for (const [keyword, value] of Object.entries(attributes)) {
    const entry = DicomMetaDictionary.nameMap[keyword];
    dataset[entry.tag.replace(/[(),]/g, '').toUpperCase()] = {
      vr: entry.vr,
      Value: entry.vr === 'PN' ? [{ Alphabetic: value }] : value.split('\\'),
    };
  }
  return {
    meta: {},
    dataset,
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    sopInstanceUid: attributes.SOPInstanceUID,
    pixelDataOffset: -1,
  };
}

const SCP: Origin = { sourceType: 'scp', sourceId: 1, sourceName: 'Modality SCP' };
const BOX: Origin = { sourceType: 'box', sourceId: 23, sourceName: 'Remote box' };

async function add(
  index: MetadataIndex,
  sop: string,
  attributes: Record<string, string>,
  origin: Origin = SCP,
) {
  return (
    await index.upsert({
      header: header({
        PatientName: 'Doe^John',
        PatientID: 'ID1',
        PatientBirthDate: '19700101',
        PatientSex: 'M',
        StudyInstanceUID: '1.2.3.1',
        StudyDate: '20240101',
        StudyID: 'S1',
        SeriesInstanceUID: '1.2.3.1.1',
        Modality: 'CT',
        ImageType: 'ORIGINAL\\PRIMARY',
        ...attributes,
        SOPInstanceUID: sop,
      }),
      origin,
      size: 100,
    })
  ).image;
}

let index: MetadataIndex;
let app: Hono;
let ids: {
  john: number;
  jane: number;
  s1: number;
  s3: number;
  ct: number;
  mr: number;
  us: number;
  image: number;
};

beforeEach(async () => {
  index = openSqliteIndex(':memory:');
  const deps: ApiDeps = {
    index,
    blobs: undefined as any,
    engine: undefined as any,
    version: 'test',
    users: undefined as any,
    seriesTypes: undefined as any,
    tagFilters: undefined as any,
    log: undefined as any,
    scus: undefined as any,
    forwarding: undefined as any,
    managedSources: undefined as any,
    boxes: undefined as any,
    exportSets: undefined as any,
    queryRetrieve: undefined as any,
  };
  app = new Hono().route('/api/metadata', metadataRoutes(deps)).onError(onError);
  const image = await add(index, '1.9.1.1', { InstanceNumber: '1' });
  await add(index, '1.9.1.2', { InstanceNumber: '2' });
  const mr = await add(index, '1.9.2.1', { SeriesInstanceUID: '1.2.3.1.2', Modality: 'MR' }, BOX);
  const us = await add(
    index,
    '1.9.3.1',
    {
      PatientName: 'Roe^Jane',
      PatientID: 'ID2',
      PatientSex: 'F',
      StudyInstanceUID: '1.2.3.3',
      StudyDate: '20220303',
      StudyID: 'S3',
      SeriesInstanceUID: '1.2.3.3.1',
      Modality: 'US',
    },
    BOX,
  );
  const s1 = (await index.series(image.seriesId))!.studyId;
  const s3 = (await index.series(us.seriesId))!.studyId;
  ids = {
    john: (await index.study(s1))!.patientId,
    jane: (await index.study(s3))!.patientId,
    s1,
    s3,
    ct: image.seriesId,
    mr: mr.seriesId,
    us: us.seriesId,
    image: image.id,
  };
});
afterEach(() => index.close());

const get = (path: string) => app.request(`/api/metadata${path}`);
const getJson = async (path: string) => {
  const r = await get(path);
  expect(r.status, await r.clone().text()).toBe(200);
  return r.json() as Promise<any>;
};
const post = (path: string, body: unknown) =>
  app.request(`/api/metadata${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const postJson = async (path: string, body: unknown) => {
  const r = await post(path, body);
  expect(r.status, await r.clone().text()).toBe(200);
  return r.json() as Promise<any>;
};
const expect400 = async (r: Response | Promise<Response>, message: RegExp) => {
  const res = await r;
  expect(res.status).toBe(400);
  expect(await res.text()).toMatch(message);
};
const names = (rows: any[]) => rows.map((p) => p.patientName.value);

describe('GET /patients', () => {
  it('answers Slicebox-shaped patients', async () => {
    expect(await getJson('/patients')).toEqual([
      {
        id: ids.john,
        patientName: { value: 'Doe^John' },
        patientID: { value: 'ID1' },
        patientBirthDate: { value: '19700101' },
        patientSex: { value: 'M' },
      },
      {
        id: ids.jane,
        patientName: { value: 'Roe^Jane' },
        patientID: { value: 'ID2' },
        patientBirthDate: { value: '19700101' },
        patientSex: { value: 'F' },
      },
    ]);
  });

  it('pages, orders and filters', async () => {
    expect(names(await getJson('/patients?orderby=patientName&orderascending=false'))).toEqual([
      'Roe^Jane',
      'Doe^John',
    ]);
    expect(names(await getJson('/patients?startindex=1&count=1'))).toEqual(['Roe^Jane']);
    expect(await getJson('/patients?count=0')).toEqual([]);
    expect(names(await getJson('/patients?filter=ROE'))).toEqual(['Roe^Jane']);
    expect(names(await getJson(`/patients?filter=${encodeURIComponent("' OR 1=1 --")}`))).toEqual([]);
  });

  it('filters by sources and series types', async () => {
    expect(names(await getJson('/patients?sources=scp:1'))).toEqual(['Doe^John']);
    expect(names(await getJson('/patients?sources=box:23'))).toEqual(['Doe^John', 'Roe^Jane']);
    expect(names(await getJson('/patients?sources=user:2,scp:1'))).toEqual(['Doe^John']);
    expect(await getJson('/patients?sources=user:2')).toEqual([]);
    expect(await getJson('/patients?seriestypes=1,2')).toEqual([]);
    expect(await getJson('/patients?seriestags=3&sources=box:23')).toEqual([]);
    expect(names(await getJson('/patients?sources='))).toHaveLength(2);
  });

  it('answers 400 naming the malformed parameter', async () => {
    await expect400(get('/patients?startindex=-1'), /startindex/);
    await expect400(get('/patients?count=abc'), /count/);
    await expect400(get('/patients?count=10001'), /count.*10000/);
    await expect400(get('/patients?orderascending=maybe'), /orderascending/);
    await expect400(get('/patients?orderby=nope'), /Property nope does not exist/);
    await expect400(get('/patients?sources=box'), /sources.*box:23,user:2/);
    await expect400(get('/patients?sources=ftp:1'), /sources/);
    await expect400(get('/patients?sources=box:23,user:x'), /sources/);
    await expect400(get('/patients?seriestypes=a,b'), /seriestypes/);
    await expect400(get('/patients?seriestags=1,,2'), /seriestags/);
  });
});

describe('by id', () => {
  it('answers each entity or 404', async () => {
    expect((await getJson(`/patients/${ids.john}`)).patientID).toEqual({ value: 'ID1' });
    expect(await getJson(`/studies/${ids.s1}`)).toEqual({
      id: ids.s1,
      patientId: ids.john,
      studyInstanceUID: { value: '1.2.3.1' },
      studyDescription: { value: '' },
      studyDate: { value: '20240101' },
      studyID: { value: 'S1' },
      accessionNumber: { value: '' },
      patientAge: { value: '' },
    });
    expect(await getJson(`/series/${ids.mr}`)).toEqual({
      id: ids.mr,
      studyId: ids.s1,
      seriesInstanceUID: { value: '1.2.3.1.2' },
      seriesDescription: { value: '' },
      seriesDate: { value: '' },
      modality: { value: 'MR' },
      protocolName: { value: '' },
      bodyPartExamined: { value: '' },
      manufacturer: { value: '' },
      stationName: { value: '' },
      frameOfReferenceUID: { value: '' },
    });
    expect(await getJson(`/images/${ids.image}`)).toEqual({
      id: ids.image,
      seriesId: ids.ct,
      sopInstanceUID: { value: '1.9.1.1' },
      imageType: { value: 'ORIGINAL\\PRIMARY' },
      instanceNumber: { value: '1' },
    });
    const flat = await getJson(`/flatseries/${ids.us}`);
    expect(Object.keys(flat)).toEqual(['id', 'patient', 'study', 'series']);
    expect(flat.id).toBe(ids.us);
    expect(flat.patient.patientName).toEqual({ value: 'Roe^Jane' });
    expect(flat.study.id).toBe(ids.s3);
    expect(flat.series.modality).toEqual({ value: 'US' });
    for (const path of ['/patients', '/studies', '/series', '/images', '/flatseries'])
      expect((await get(`${path}/9999`)).status).toBe(404);
    expect((await get('/series/9999/source')).status).toBe(404);
    await expect400(get('/patients/abc'), /id/);
  });

  it('answers the source of a series with its name', async () => {
    expect(await getJson(`/series/${ids.ct}/source`)).toEqual({
      sourceType: 'scp',
      sourceName: 'Modality SCP',
      sourceId: 1,
    });
    expect(await getJson(`/series/${ids.mr}/source`)).toEqual({
      sourceType: 'box',
      sourceName: 'Remote box',
      sourceId: 23,
    });
  });
});

describe('children', () => {
  it('lists studies, series and images under their required parent', async () => {
    const studies = await getJson(`/studies?patientid=${ids.john}`);
    expect(studies.map((s: any) => s.id)).toEqual([ids.s1]);
    const series = await getJson(`/series?studyid=${ids.s1}`);
    expect(series.map((s: any) => s.modality.value)).toEqual(['CT', 'MR']);
    expect((await getJson(`/series?studyid=${ids.s1}&sources=box:23`)).map((s: any) => s.id)).toEqual([
      ids.mr,
    ]);
    expect((await getJson(`/series?studyid=${ids.s1}&count=1&startindex=1`)).map((s: any) => s.id)).toEqual([
      ids.mr,
    ]);
    const images = await getJson(`/images?seriesid=${ids.ct}&orderby=instanceNumber&orderascending=false`);
    expect(images.map((i: any) => i.instanceNumber.value)).toEqual(['2', '1']);
    expect(await getJson('/studies?patientid=9999')).toEqual([]);
    await expect400(get('/studies'), /patientid: required/);
    await expect400(get('/series'), /studyid: required/);
    await expect400(get('/images'), /seriesid: required/);
    await expect400(get('/images?seriesid=x'), /seriesid/);
  });

  it('lists all images of a patient or study, narrowed by filters; [] for an unknown id', async () => {
    expect(await getJson(`/patients/${ids.john}/images`)).toHaveLength(3);
    expect(await getJson(`/patients/${ids.john}/images?sources=box:23`)).toHaveLength(1);
    expect(await getJson(`/studies/${ids.s1}/images?sources=scp:1`)).toHaveLength(2);
    expect(await getJson(`/studies/${ids.s3}/images`)).toHaveLength(1);
    expect(await getJson('/patients/9999/images')).toEqual([]);
    expect(await getJson('/studies/9999/images')).toEqual([]);
    await expect400(get(`/patients/${ids.john}/images?sources=nope`), /sources/);
  });
});

describe('GET /flatseries', () => {
  it('pages, orders by mapped columns and filters across levels', async () => {
    const all = await getJson('/flatseries');
    expect(all).toHaveLength(3);
    expect(all[0]).toEqual({
      id: ids.ct,
      patient: all[0].patient,
      study: all[0].study,
      series: all[0].series,
    });
    expect(
      (await getJson('/flatseries?orderby=patientID&orderascending=false'))[0].patient.patientID.value,
    ).toBe('ID2');
    expect((await getJson('/flatseries?orderby=id&orderascending=false')).map((f: any) => f.id)).toEqual([
      ids.us,
      ids.mr,
      ids.ct,
    ]);
    expect((await getJson('/flatseries?filter=jane')).map((f: any) => f.id)).toEqual([ids.us]);
    expect((await getJson('/flatseries?filter=mr')).map((f: any) => f.id)).toEqual([ids.mr]);
    expect((await getJson('/flatseries?sources=box:23&count=1')).map((f: any) => f.id)).toEqual([ids.mr]);
    await expect400(get('/flatseries?orderby=sopInstanceUID'), /Property sopInstanceUID does not exist/);
  });
});

describe('POST …/query', () => {
  const body = (queryProperties: unknown[], extra: Record<string, unknown> = {}) => ({
    startIndex: 0,
    count: 20,
    queryProperties,
    ...extra,
  });

  it('applies every operator', async () => {
    const patients = (propertyName: string, operator: string, propertyValue: unknown) =>
      postJson('/patients/query', body([{ propertyName, operator, propertyValue }])).then(names);
    expect(await patients('patientID', '=', 'ID2')).toEqual(['Roe^Jane']);
    expect(await patients('patientName', 'like', 'oe^j')).toEqual(['Doe^John', 'Roe^Jane']);
    expect(await patients('patientName', 'LIKE', 'jane')).toEqual(['Roe^Jane']);
    expect(await patients('studyDate', '<', '20240101')).toEqual(['Roe^Jane']);
    expect(await patients('studyDate', '<=', '20240101')).toEqual(['Doe^John', 'Roe^Jane']);
    expect(await patients('studyDate', '>', '20220303')).toEqual(['Doe^John']);
    expect(await patients('studyDate', '>=', '20220303')).toEqual(['Doe^John', 'Roe^Jane']);
    expect(await patients('modality', 'in', ['US', 'PT'])).toEqual(['Roe^Jane']);
    expect(await patients('modality', 'in', 'MR,US')).toEqual(['Doe^John', 'Roe^Jane']);
    expect(await patients('id', '=', ids.jane)).toEqual(['Roe^Jane']);
    expect(await patients('patientName', '=', "x' OR '1'='1")).toEqual([]);
  });

  it('queries every level, joining across levels', async () => {
    const studies = await postJson(
      '/studies/query',
      body([{ propertyName: 'modality', operator: '=', propertyValue: 'MR' }]),
    );
    expect(studies.map((s: any) => s.id)).toEqual([ids.s1]);
    const series = await postJson(
      '/series/query',
      body([{ propertyName: 'patientName', operator: 'like', propertyValue: 'john' }], {
        order: { orderBy: 'modality', orderAscending: false },
      }),
    );
    expect(series.map((s: any) => s.modality.value)).toEqual(['MR', 'CT']);
    const images = await postJson(
      '/images/query',
      body([
        { propertyName: 'patientID', operator: '=', propertyValue: 'ID1' },
        { propertyName: 'modality', operator: '=', propertyValue: 'CT' },
      ]),
    );
    expect(images.map((i: any) => i.sopInstanceUID.value)).toEqual(['1.9.1.1', '1.9.1.2']);
    const flat = await postJson(
      '/flatseries/query',
      body([{ propertyName: 'sopInstanceUID', operator: '=', propertyValue: '1.9.1.2' }]),
    );
    expect(flat.map((f: any) => f.id)).toEqual([ids.ct]);
    const filtered = await postJson(
      '/series/query',
      body([], {
        filters: { sourceRefs: [{ sourceType: 'box', sourceId: 23 }], seriesTypeIds: [], seriesTagIds: [] },
      }),
    );
    expect(filtered.map((s: any) => s.id)).toEqual([ids.mr, ids.us]);
    expect(await postJson('/images/query', body([], { startIndex: 3, count: 10 }))).toHaveLength(1);
    expect(await postJson('/patients/query', {})).toHaveLength(2);
    expect(await postJson('/patients/query', body([], { order: null, filters: null }))).toHaveLength(2);
  });

  it('answers 400 for malformed bodies, unknown properties and operators', async () => {
    await expect400(post('/patients/query', '{"startIndex": 0,'), /Malformed JSON/);
    await expect400(
      post('/patients/query', body([{ propertyName: 'nope', operator: '=', propertyValue: 'x' }])),
      /Property nope does not exist/,
    );
    await expect400(
      post('/patients/query', body([{ propertyName: 'patientName', operator: 'regex', propertyValue: 'x' }])),
      /queryProperties\.0\.operator/,
    );
    await expect400(
      post('/patients/query', body([{ propertyName: 'modality', operator: 'in', propertyValue: [] }])),
      /in/,
    );
    await expect400(
      post(
        '/patients/query',
        body([{ propertyName: 'modality', operator: '=', propertyValue: ['CT', 'MR'] }]),
      ),
      /single/,
    );
    await expect400(post('/patients/query', body([], { count: 10001 })), /count/);
    await expect400(post('/patients/query', body([], { startIndex: -1 })), /startIndex/);
    await expect400(
      post('/patients/query', body([], { order: { orderBy: 'modality', orderAscending: true } })),
      /modality/,
    );
    await expect400(
      post('/patients/query', body([], { filters: { sourceRefs: [{ sourceType: 'ftp', sourceId: 1 }] } })),
      /filters\.sourceRefs/,
    );
    await expect400(post('/patients/query', '[]'), /Query body/);
    // The tables survive whatever was sent.
    expect(await getJson('/patients')).toHaveLength(2);
  });
});

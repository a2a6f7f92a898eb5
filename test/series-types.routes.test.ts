/**
 * `/api/seriestypes` and the series labels under `/api/metadata` (series types of a series, series tags),
 * on real adapters through app.request(); re-classification after rule changes reads the stored files.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN, basic, createTestApp, type TestApp } from './helpers/app.js';
import { makeInstance, newUid, type InstanceSpec } from './fixtures/dicom-fixtures.js';
import { parseHeader } from '../src/dicom/header.js';

let t: TestApp;
const auth = basic(ADMIN.user, ADMIN.password);

const call = (method: string, path: string, body?: unknown) =>
  t.app.request(`/api${path}`, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
const json = async (method: string, path: string, body?: unknown, status = 200) => {
  const r = await call(method, path, body);
  const text = await r.text();
  expect(r.status, text).toBe(status);
  return text ? JSON.parse(text) : undefined;
};
const status = async (method: string, path: string, body?: unknown) =>
  (await call(method, path, body)).status;
const expect400 = async (method: string, path: string, body: unknown, message: RegExp) => {
  const r = await call(method, path, body);
  expect(r.status).toBe(400);
  expect(await r.text()).toMatch(message);
};

/** Stores and indexes one synthetic instance (a new series unless the UID is given); answers its series id. */
async function addSeries(spec: InstanceSpec): Promise<number> {
  const sopInstanceUid = newUid();
  const bytes = makeInstance({ seriesInstanceUid: newUid(), ...spec, sopInstanceUid });
  const path = join(t.dir, `${sopInstanceUid}.dcm`);
  await writeFile(path, bytes);
  const header = parseHeader(bytes);
  await t.blobs.putFile(sopInstanceUid, path);
  const { image } = await t.index.upsert({
    header,
    origin: { sourceType: 'user', sourceId: 1, sourceName: 'admin' },
    size: bytes.length,
  });
  await t.seriesTypes.classify(image.seriesId, header);
  return image.seriesId;
}

const createType = (name: string) => json('POST', '/seriestypes', { id: -1, name }, 201);
const createRule = (seriesTypeId: number) =>
  json('POST', '/seriestypes/rules', { id: -1, seriesTypeId }, 201);
const createAttribute = (ruleId: number, attribute: Record<string, unknown>) =>
  json(
    'POST',
    `/seriestypes/rules/${ruleId}/attributes`,
    { id: -1, seriesTypeRuleId: ruleId, tagPath: null, namePath: null, ...attribute },
    201,
  );
const typesOf = async (seriesId: number) =>
  ((await json('GET', `/metadata/series/${seriesId}/seriestypes`)) as Array<{ name: string }>).map(
    (s) => s.name,
  );
const idle = async () => {
  await t.seriesTypes.whenIdle();
  expect(await json('GET', '/seriestypes/rules/updatestatus')).toEqual({ running: false });
};

beforeEach(async () => {
  t = await createTestApp();
});
afterEach(async () => t?.cleanup());

describe('/api/seriestypes', () => {
  it('creates, lists, renames and deletes series types; duplicate names are 400, unknown ids 404', async () => {
    const t1 = await createType('T1');
    expect(t1).toEqual({ id: expect.any(Number), name: 'T1' });
    const t2 = await createType('T2');
    expect(await json('GET', '/seriestypes')).toEqual([t1, t2]);
    expect(await json('GET', '/seriestypes?startindex=1&count=1')).toEqual([t2]);
    await expect400('POST', '/seriestypes', { id: -1, name: 'T1' }, /already exists/);
    await expect400('POST', '/seriestypes', { id: -1 }, /name/);
    await expect400('POST', '/seriestypes', '{not json', /Malformed JSON/);
    await expect400('GET', '/seriestypes?count=-1', undefined, /count/);

    expect(await status('PUT', `/seriestypes/${t1.id}`, { id: t1.id, name: 'T1 weighted' })).toBe(204);
    expect(await status('PUT', '/seriestypes/999', { id: 999, name: 'x' })).toBe(404);
    await expect400('PUT', `/seriestypes/${t1.id}`, { id: t1.id, name: 'T2' }, /already exists/);
    await expect400('PUT', '/seriestypes/abc', { id: 1, name: 'x' }, /id must be/);
    expect(await status('DELETE', `/seriestypes/${t2.id}`)).toBe(204);
    expect(await status('DELETE', `/seriestypes/${t2.id}`)).toBe(204);
    expect(await json('GET', '/seriestypes')).toEqual([{ id: t1.id, name: 'T1 weighted' }]);
  });

  it('manages rules and attributes; attributes are checked and tags resolved from keywords', async () => {
    const type = await createType('CT thin');
    const rule = await createRule(type.id);
    expect(rule).toEqual({ id: expect.any(Number), seriesTypeId: type.id });
    expect(await json('GET', `/seriestypes/rules?seriestypeid=${type.id}`)).toEqual([rule]);
    expect(await status('GET', '/seriestypes/rules?seriestypeid=999')).toBe(404);
    await expect400('GET', '/seriestypes/rules', undefined, /seriestypeid/);
    expect(await status('POST', '/seriestypes/rules', { id: -1, seriesTypeId: 999 })).toBe(404);

    const modality = await createAttribute(rule.id, { tag: 0x00080060, name: 'Modality', values: 'CT' });
    expect(modality).toEqual({
      id: expect.any(Number),
      seriesTypeRuleId: rule.id,
      tag: 0x00080060,
      name: 'Modality',
      tagPath: null,
      namePath: null,
      values: 'CT',
      operator: 'equals',
      flags: '',
    });
    // No tag: the name is a keyword. No name: the keyword of the tag.
    const thickness = await createAttribute(rule.id, { name: 'SliceThickness', operator: '<', values: '2' });
    expect(thickness).toMatchObject({ tag: 0x00180050, operator: '<' });
    expect(
      await createAttribute(rule.id, { tag: 0x0008103e, values: 'x', operator: 'contains' }),
    ).toMatchObject({
      name: 'SeriesDescription',
    });
    expect(await json('GET', `/seriestypes/rules/${rule.id}/attributes`)).toHaveLength(3);

    const path = `/seriestypes/rules/${rule.id}/attributes`;
    await expect400(
      'POST',
      path,
      { name: 'SeriesDescription', operator: 'regex', values: '(' },
      /regular expression/,
    );
    await expect400('POST', path, { name: 'SliceThickness', operator: 'range', values: '1' }, /lo,hi/);
    await expect400('POST', path, { name: 'SliceThickness', operator: 'between', values: '1' }, /operator/);
    await expect400('POST', path, { name: 'NotAKeyword', values: '1' }, /keyword/);
    await expect400('POST', path, { tag: 0x00080060, values: 1 }, /values/);
    await expect400(
      'POST',
      path,
      { seriesTypeRuleId: rule.id + 1, name: 'Modality', values: 'CT' },
      /differs/,
    );
    await expect400('POST', path, { name: 'Modality', values: 'CT', tagPath: 'x' }, /tagPath/);
    expect(
      await status('POST', '/seriestypes/rules/999/attributes', { name: 'Modality', values: 'CT' }),
    ).toBe(404);
    expect(await status('GET', '/seriestypes/rules/999/attributes')).toBe(404);

    // Through another rule's path, nothing is deleted.
    expect(await status('DELETE', `/seriestypes/rules/999/attributes/${modality.id}`)).toBe(204);
    expect(await json('GET', `/seriestypes/rules/${rule.id}/attributes`)).toHaveLength(3);
    expect(await status('DELETE', `/seriestypes/rules/${rule.id}/attributes/${modality.id}`)).toBe(204);
    expect(await json('GET', `/seriestypes/rules/${rule.id}/attributes`)).toHaveLength(2);
    expect(await status('DELETE', `/seriestypes/rules/${rule.id}`)).toBe(204);
    expect(await status('DELETE', `/seriestypes/rules/${rule.id}`)).toBe(204);
    expect(await json('GET', `/seriestypes/rules?seriestypeid=${type.id}`)).toEqual([]);
    // Deleting a type takes its rules along.
    const other = await createRule(type.id);
    expect(await status('DELETE', `/seriestypes/${type.id}`)).toBe(204);
    expect(await status('GET', `/seriestypes/rules/${other.id}/attributes`)).toBe(404);
    await idle();
    expect(await json('POST', '/seriestypes/rules/updatestatus')).toEqual({ running: false });
  });

  it('classifies series, answers their types in bulk, and re-classifies in the background after changes', async () => {
    const ctThin = await addSeries({ modality: 'CT', extra: { SliceThickness: '1.0' } });
    const ctThick = await addSeries({ modality: 'CT', extra: { SliceThickness: '5.0' } });
    const mr = await addSeries({ modality: 'MR', seriesDescription: 'ax t1 post' });
    expect(await typesOf(ctThin)).toEqual([]);

    const thin = await createType('CT thin');
    const rule = await createRule(thin.id);
    // A rule with no attributes matches every series, until its attributes narrow it.
    await idle();
    expect(await typesOf(mr)).toEqual(['CT thin']);
    await createAttribute(rule.id, { name: 'Modality', values: 'CT' });
    await createAttribute(rule.id, { name: 'SliceThickness', operator: '<', values: '2' });
    await idle();
    expect(await typesOf(ctThin)).toEqual(['CT thin']);
    expect(await typesOf(ctThick)).toEqual([]);
    expect(await typesOf(mr)).toEqual([]);

    const t1 = await createType('MR T1');
    const t1Rule = await createRule(t1.id);
    await createAttribute(t1Rule.id, {
      name: 'SeriesDescription',
      operator: 'regex',
      values: 't1',
      flags: 'i',
    });
    await idle();
    expect(await typesOf(mr)).toEqual(['MR T1']);

    expect(await json('POST', '/seriestypes/series/query', { ids: [ctThin, ctThick, mr, 999] })).toEqual({
      seriesIdSeriesTypes: [
        { seriesId: ctThin, seriesType: { id: thin.id, name: 'CT thin' } },
        { seriesId: mr, seriesType: { id: t1.id, name: 'MR T1' } },
      ],
    });
    await expect400('POST', '/seriestypes/series/query', { ids: 'x' }, /ids/);

    // The metadata filters see the assignments: OR within a list, AND across lists.
    const seriesIds = async (query: string) =>
      ((await json('GET', `/metadata/flatseries?${query}`)) as Array<{ id: number }>).map((s) => s.id);
    expect(await seriesIds(`seriestypes=${thin.id}`)).toEqual([ctThin]);
    expect(await seriesIds(`seriestypes=${thin.id},${t1.id}`)).toEqual([ctThin, mr]);
    expect(await seriesIds(`seriestypes=${t1.id}&sources=user:1`)).toEqual([mr]);
    expect(await seriesIds(`seriestypes=${t1.id}&sources=box:1`)).toEqual([]);
    const query = await json('POST', '/metadata/series/query', {
      startIndex: 0,
      count: 10,
      queryProperties: [],
      filters: { sourceRefs: [], seriesTypeIds: [thin.id, t1.id], seriesTagIds: [] },
    });
    expect(query.map((s: { id: number }) => s.id)).toEqual([ctThin, mr]);

    // Deleting a type removes its assignments.
    expect(await status('DELETE', `/seriestypes/${t1.id}`)).toBe(204);
    await idle();
    expect(await typesOf(mr)).toEqual([]);
    expect(await seriesIds(`seriestypes=${t1.id}`)).toEqual([]);
  });
});

describe('/api/metadata/series/{id}/seriestypes', () => {
  it('assigns by hand (kept through re-classification), removes one or all; 404 for unknown series or type', async () => {
    const series = await addSeries({ modality: 'CT', extra: { SliceThickness: '1.0' } });
    const ct = await createType('CT');
    await createAttribute((await createRule(ct.id)).id, { name: 'Modality', values: 'CT' });
    const manual = await createType('Reviewed');
    await idle();
    expect(await typesOf(series)).toEqual(['CT']);

    expect(await status('PUT', `/metadata/series/${series}/seriestypes/${manual.id}`)).toBe(204);
    expect(await status('PUT', `/metadata/series/${series}/seriestypes/${manual.id}`)).toBe(204);
    expect(await status('PUT', `/metadata/series/${series}/seriestypes/999`)).toBe(404);
    expect(await status('PUT', `/metadata/series/999/seriestypes/${manual.id}`)).toBe(404);
    expect(await status('GET', '/metadata/series/999/seriestypes')).toBe(404);
    expect(await status('GET', '/metadata/series/x/seriestypes')).toBe(400);
    expect(await typesOf(series)).toEqual(['CT', 'Reviewed']);

    // A new image of the series and a rule change both re-classify; the manual type stays.
    await t.seriesTypes.classify(series, { dataset: {} });
    expect(await typesOf(series)).toEqual(['Reviewed']);
    await createRule(manual.id).then((rule) => createAttribute(rule.id, { name: 'Modality', values: 'MR' }));
    await idle();
    expect(await typesOf(series)).toEqual(['CT', 'Reviewed']);

    // A hand-made assignment of a type that also applies automatically stays manual.
    expect(await status('PUT', `/metadata/series/${series}/seriestypes/${ct.id}`)).toBe(204);
    await t.seriesTypes.classify(series, { dataset: {} });
    expect(await typesOf(series)).toEqual(['CT', 'Reviewed']);

    expect(await status('DELETE', `/metadata/series/${series}/seriestypes/${manual.id}`)).toBe(204);
    expect(await typesOf(series)).toEqual(['CT']);
    expect(await status('DELETE', `/metadata/series/${series}/seriestypes`)).toBe(204);
    expect(await typesOf(series)).toEqual([]);
    expect(await status('DELETE', '/metadata/series/999/seriestypes')).toBe(204);
  });
});

describe('/api/metadata/seriestags and /api/metadata/series/{id}/seriestags', () => {
  it('creates, lists, gets, renames and deletes tags', async () => {
    const a = await json('POST', '/metadata/seriestags', { id: -1, name: 'alpha' }, 201);
    const b = await json('POST', '/metadata/seriestags', { id: -1, name: 'Beta' }, 201);
    expect(a).toEqual({ id: expect.any(Number), name: 'alpha' });
    await expect400('POST', '/metadata/seriestags', { id: -1, name: 'alpha' }, /already exists/);
    await expect400('POST', '/metadata/seriestags', { id: -1, name: '' }, /name/);
    expect(await json('GET', '/metadata/seriestags')).toEqual([a, b]);
    expect(await json('GET', '/metadata/seriestags?orderby=name&orderascending=false')).toEqual(
      [a, b].reverse(),
    );
    expect(await json('GET', '/metadata/seriestags?filter=BET')).toEqual([b]);
    expect(await json('GET', '/metadata/seriestags?startindex=1&count=5')).toEqual([b]);
    await expect400('GET', '/metadata/seriestags?orderby=created', undefined, /orderby/);
    expect(await json('GET', `/metadata/seriestags/${a.id}`)).toEqual(a);
    expect(await status('GET', '/metadata/seriestags/999')).toBe(404);
    expect(await json('PUT', `/metadata/seriestags/${a.id}`, { id: a.id, name: 'gamma' })).toEqual({
      id: a.id,
      name: 'gamma',
    });
    expect(await status('PUT', '/metadata/seriestags/999', { id: 999, name: 'x' })).toBe(404);
    await expect400('PUT', `/metadata/seriestags/${a.id}`, { id: a.id, name: 'Beta' }, /already exists/);
    expect(await status('DELETE', `/metadata/seriestags/${a.id}`)).toBe(204);
    expect(await status('DELETE', `/metadata/seriestags/${a.id}`)).toBe(204);
    expect(await json('GET', '/metadata/seriestags')).toEqual([b]);
  });

  it('tags series by name, filters on tags, and removes orphaned tags with the last link or the series', async () => {
    const s1 = await addSeries({ modality: 'CT' });
    const s2 = await addSeries({ modality: 'MR' });
    const tag = await json('POST', `/metadata/series/${s1}/seriestags`, { id: -1, name: 'review' }, 201);
    expect(await json('POST', `/metadata/series/${s2}/seriestags`, { id: -1, name: 'review' }, 201)).toEqual(
      tag,
    );
    const solo = await json('POST', `/metadata/series/${s2}/seriestags`, { id: -1, name: 'solo' }, 201);
    expect(await json('GET', `/metadata/series/${s2}/seriestags`)).toEqual([tag, solo]);
    expect(await status('POST', '/metadata/series/999/seriestags', { id: -1, name: 'x' })).toBe(404);
    await expect400('POST', `/metadata/series/${s1}/seriestags`, { id: -1 }, /name/);
    expect(await status('GET', '/metadata/series/999/seriestags')).toBe(404);

    const seriesIds = async (query: string) =>
      ((await json('GET', `/metadata/flatseries?${query}`)) as Array<{ id: number }>).map((s) => s.id);
    expect(await seriesIds(`seriestags=${tag.id}`)).toEqual([s1, s2]);
    expect(await seriesIds(`seriestags=${solo.id}`)).toEqual([s2]);
    expect(await seriesIds(`seriestags=${solo.id}&sources=user:1`)).toEqual([s2]);
    expect(await status('GET', '/metadata/flatseries?seriestags=a')).toBe(400);
    const patients = await json('GET', `/metadata/patients?seriestags=${solo.id}`);
    expect(patients).toHaveLength(1);
    const studies = await json('GET', `/metadata/studies?patientid=${patients[0].id}&seriestags=${solo.id}`);
    expect(studies).toHaveLength(1);
    const inStudy = async (query: string) =>
      (
        (await json('GET', `/metadata/series?studyid=${studies[0].id}&${query}`)) as Array<{ id: number }>
      ).map((s) => s.id);
    expect(await inStudy(`seriestags=${solo.id}`)).toEqual([s2]);
    expect(await inStudy(`seriestags=${tag.id}&seriestypes=1`)).toEqual([]);
    expect(await status('GET', `/metadata/series?studyid=${studies[0].id}&seriestypes=1;2`)).toBe(400);
    expect(await status('GET', `/metadata/patients?sources=ftp:1`)).toBe(400);
    const byQuery = async (filters: unknown) =>
      (
        (await json('POST', '/metadata/flatseries/query', {
          startIndex: 0,
          count: 10,
          queryProperties: [],
          filters,
        })) as Array<{
          id: number;
        }>
      ).map((s) => s.id);
    expect(await byQuery({ seriesTagIds: [solo.id] })).toEqual([s2]);
    expect(
      await byQuery({ seriesTagIds: [solo.id, tag.id], sourceRefs: [{ sourceType: 'user', sourceId: 1 }] }),
    ).toEqual([s1, s2]);
    await expect400(
      'POST',
      '/metadata/flatseries/query',
      { startIndex: 0, count: 10, queryProperties: [], filters: { seriesTagIds: ['a'] } },
      /filters\.seriesTagIds/,
    );

    // Unlinking: the tag stays while another series carries it, and goes with its last link.
    expect(await status('DELETE', `/metadata/series/${s1}/seriestags/${tag.id}`)).toBe(204);
    expect(await json('GET', `/metadata/seriestags/${tag.id}`)).toEqual(tag);
    expect(await status('DELETE', `/metadata/series/${s2}/seriestags/${tag.id}`)).toBe(204);
    expect(await status('GET', `/metadata/seriestags/${tag.id}`)).toBe(404);

    // Deleting the images of a series takes its assignments and links along, and the tags it alone carried.
    const keep = await json('POST', '/metadata/seriestags', { id: -1, name: 'unlinked' }, 201);
    const type = await createType('Any');
    expect(await status('PUT', `/metadata/series/${s2}/seriestypes/${type.id}`)).toBe(204);
    const images = (await json('GET', `/metadata/images?seriesid=${s2}`)) as Array<{ id: number }>;
    await t.index.deleteImages(images.map((i) => i.id));
    expect(await status('GET', `/metadata/seriestags/${solo.id}`)).toBe(404);
    expect(await json('GET', '/metadata/seriestags')).toEqual([keep]);
    expect(await t.index.seriesTypeAssignments(s2)).toEqual([]);
    expect(await seriesIds(`seriestypes=${type.id}`)).toEqual([]);
  });
});

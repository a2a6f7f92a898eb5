/**
 * DCMTK storescu → the `classify` pipeline (pipelines/classify.yaml) → series types: static types from the
 * pipeline file and managed ones from the API; a rule change re-classifies the stored series.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { dcmtk } from './helpers/dcmtk.js';
import { newUid, writeStudy } from './fixtures/dicom-fixtures.js';

let engine: TestEngine;
let dir: string;

beforeAll(async () => {
  engine = await startTestEngine({ pipelines: ['pipelines/classify.yaml'] });
  dir = await mkdtemp(join(tmpdir(), 'sluice-classify-'));
});
afterAll(async () => {
  await engine?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

const getJson = async (path: string, init?: RequestInit) => {
  const r = await engine.api(path, init);
  expect(r.status, path).toBeLessThan(300);
  return r.json() as Promise<any>;
};
const postJson = (path: string, body: unknown) =>
  getJson(path, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' },
  });

describe('classify_series with DCMTK', () => {
  it('labels the series of a study sent by storescu; re-labels them after a rule change and an index rebuild', async () => {
    const studyInstanceUid = newUid();
    const common = {
      studyInstanceUid,
      patientName: 'Classify^Test',
      patientId: 'CLS1',
      instancesPerSeries: 2,
    };
    const ctThin = await writeStudy(join(dir, 'thin'), {
      ...common,
      modality: 'CT',
      extra: { SliceThickness: '1.0' },
    });
    const ctThick = await writeStudy(join(dir, 'thick'), {
      ...common,
      modality: 'CT',
      extra: { SliceThickness: '5.0' },
    });
    const mrT1 = await writeStudy(join(dir, 't1'), {
      ...common,
      modality: 'MR',
      seriesDescription: 'Ax T1 SE',
    });
    const mrT2 = await writeStudy(join(dir, 't2'), {
      ...common,
      modality: 'MR',
      seriesDescription: 'Ax T2 FSE',
    });
    const files = [ctThin, ctThick, mrT1, mrT2].flatMap((s) => s.files);
    const r = await dcmtk('storescu', [
      '-aec',
      'SLUICE',
      '-aet',
      'MODALITY',
      '127.0.0.1',
      String(engine.dicomPort),
      ...files,
    ]);
    expect(r.code, r.stderr).toBe(0);

    const types = (await getJson('/api/seriestypes')) as Array<{ id: number; name: string }>;
    expect(types.map((t) => t.name)).toEqual(['CT thin slice', 'MR T1']);
    const typeId = (name: string) => types.find((t) => t.name === name)!.id;

    const flat = (await getJson('/api/metadata/flatseries?count=100&filter=classify^test')) as any[];
    expect(flat).toHaveLength(4);
    const seriesId = (uid: string) => flat.find((f) => f.series.seriesInstanceUID.value === uid).id as number;
    const ids = {
      ctThin: seriesId(ctThin.seriesInstanceUids[0]),
      ctThick: seriesId(ctThick.seriesInstanceUids[0]),
      mrT1: seriesId(mrT1.seriesInstanceUids[0]),
      mrT2: seriesId(mrT2.seriesInstanceUids[0]),
    };
    const labels = async () => {
      const answer = await postJson('/api/seriestypes/series/query', { ids: Object.values(ids) });
      const names: Record<string, string[]> = {};
      for (const [key, id] of Object.entries(ids))
        names[key] = answer.seriesIdSeriesTypes
          .filter((s: any) => s.seriesId === id)
          .map((s: any) => s.seriesType.name);
      return names;
    };
    expect(await labels()).toEqual({ ctThin: ['CT thin slice'], ctThick: [], mrT1: ['MR T1'], mrT2: [] });
    const ofType = async (typeIds: number[]) =>
      ((await getJson(`/api/metadata/flatseries?seriestypes=${typeIds.join(',')}`)) as any[]).map(
        (f) => f.id,
      );
    expect(await ofType([typeId('MR T1')])).toEqual([ids.mrT1]);

    // Static types belong to the pipeline file.
    const staticDelete = await engine.api(`/api/seriestypes/${typeId('MR T1')}`, { method: 'DELETE' });
    expect(staticDelete.status).toBe(400);
    expect(await staticDelete.text()).toMatch(/pipeline file/);
    const staticRename = await engine.api(`/api/seriestypes/${typeId('MR T1')}`, {
      method: 'PUT',
      body: JSON.stringify({ id: typeId('MR T1'), name: 'renamed' }),
    });
    expect(staticRename.status).toBe(400);

    // A managed type: MR T2, by series description.
    const t2 = await postJson('/api/seriestypes', { id: -1, name: 'MR T2' });
    const rule = await postJson('/api/seriestypes/rules', { id: -1, seriesTypeId: t2.id });
    await postJson(`/api/seriestypes/rules/${rule.id}/attributes`, {
      id: -1,
      seriesTypeRuleId: rule.id,
      tag: 0x0008103e,
      name: 'SeriesDescription',
      tagPath: null,
      namePath: null,
      values: 'T2',
      operator: 'contains',
    });
    const settled = async () => {
      for (let i = 0; i < 200; i++) {
        if (!(await getJson('/api/seriestypes/rules/updatestatus')).running) return;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      throw new Error('re-classification did not finish');
    };
    await settled();
    expect(await labels()).toEqual({
      ctThin: ['CT thin slice'],
      ctThick: [],
      mrT1: ['MR T1'],
      mrT2: ['MR T2'],
    });
    expect(await ofType([typeId('MR T1'), t2.id])).toEqual([ids.mrT1, ids.mrT2]);

    // Changing the rule (contains T2 → contains FLAIR) takes the label away again.
    const [attribute] = await getJson(`/api/seriestypes/rules/${rule.id}/attributes`);
    await engine.api(`/api/seriestypes/rules/${rule.id}/attributes/${attribute.id}`, { method: 'DELETE' });
    await postJson(`/api/seriestypes/rules/${rule.id}/attributes`, {
      id: -1,
      seriesTypeRuleId: rule.id,
      tag: 0x0008103e,
      name: 'SeriesDescription',
      tagPath: null,
      namePath: null,
      values: 'FLAIR',
      operator: 'contains',
    });
    await settled();
    expect((await labels()).mrT2).toEqual([]);

    // Lose the index: the start-up check re-indexes the stored files, and they are classified again.
    await engine.stop();
    for (const suffix of ['', '-wal', '-shm'])
      await rm(join(engine.dataDir, `index.sqlite${suffix}`), { force: true });
    engine = await startTestEngine({ dataDir: engine.dataDir, pipelines: ['pipelines/classify.yaml'] });
    await settled();
    const recovered = (await getJson('/api/metadata/flatseries?count=100')) as any[];
    expect(recovered).toHaveLength(4);
    const answer = await postJson('/api/seriestypes/series/query', { ids: recovered.map((f) => f.id) });
    const byUid = Object.fromEntries(
      recovered.map((f) => [
        f.series.seriesInstanceUID.value,
        answer.seriesIdSeriesTypes.filter((s: any) => s.seriesId === f.id).map((s: any) => s.seriesType.name),
      ]),
    );
    expect(byUid).toEqual({
      [ctThin.seriesInstanceUids[0]]: ['CT thin slice'],
      [ctThick.seriesInstanceUids[0]]: [],
      [mrT1.seriesInstanceUids[0]]: ['MR T1'],
      [mrT2.seriesInstanceUids[0]]: [],
    });
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { SeriesTypeService } from './service.js';
import { parseHeader, type DicomHeader } from '../dicom/header.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { MetadataIndex } from '../storage/metadata-index.js';
import type { StateStore } from '../storage/state-store.js';
import { openSqliteIndex } from '../storage/sqlite-index.js';
import { openSqliteState } from '../storage/sqlite-state.js';
import { makeInstance } from '../../test/fixtures/dicom-fixtures.js';

let dir: string;
let index: MetadataIndex;
let state: StateStore;
let service: SeriesTypeService;
const headers = new Map<string, DicomHeader>();
const reads: string[] = [];
let gate: Promise<void> = Promise.resolve();

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-series-types-'));
  index = openSqliteIndex(':memory:');
  state = openSqliteState(join(dir, 'state.sqlite'));
  const blobs = {} as BlobStore;
  service = new SeriesTypeService(state, index, blobs, {
    readHeader: async (key) => {
      const path = `/stored/${key}`;
      reads.push(path);
      await gate;
      const header = headers.get(path);
      if (!header) throw new Error(`no file ${path}`);
      return header;
    },
    log: () => {},
  });
  reads.length = 0;
  for (const modality of ['CT', 'MR', 'US']) {
    const header = parseHeader(makeInstance({ modality }));
    headers.set(`/stored/${header.sopInstanceUid}`, header);
    await index.upsert({ header, origin: { sourceType: 'user', sourceId: 1, sourceName: 'admin' }, size: 1 });
  }
});
afterEach(async () => {
  await service.stop();
  await index.close();
  await state.close();
  await rm(dir, { recursive: true, force: true });
});

const addModalityType = async (name: string, modality: string) => {
  const type = (await state.insertSeriesType(name))!;
  const rule = await state.insertSeriesTypeRule(type.id);
  await state.insertSeriesTypeRuleAttribute({
    seriesTypeRuleId: rule.id,
    tag: 0x00080060,
    name: 'Modality',
    tagPath: null,
    namePath: null,
    values: modality,
    operator: 'equals',
    flags: '',
  });
  return type;
};

it('runs one re-classification at a time, reports it, and coalesces changes made meanwhile', async () => {
  let open!: () => void;
  gate = new Promise((resolve) => (open = resolve));
  const ct = await addModalityType('CT', 'CT');
  expect(service.running).toBe(false);
  service.changed();
  expect(service.running).toBe(true);
  const mr = await addModalityType('MR', 'MR');
  service.changed();
  service.changed();
  open();
  await service.whenIdle();
  expect(service.running).toBe(false);
  // The first walk was cut short by the change; one more walk covered all three series.
  expect(reads.length).toBeLessThanOrEqual(4);
  const [s1, s2, s3] = await index.allSeriesIds();
  expect(await index.seriesTypeAssignmentsOf([s1, s2, s3])).toEqual([
    { seriesId: s1, seriesTypeId: ct.id },
    { seriesId: s2, seriesTypeId: mr.id },
  ]);
});

it('goes on past a series whose file cannot be read', async () => {
  await addModalityType('CT', 'CT');
  const [s1] = await index.allSeriesIds();
  const [image] = await index.list('images', { parentId: s1, startIndex: 0, count: 1 });
  headers.delete(`/stored/${image.sopInstanceUID.value}`);
  const us = await addModalityType('US', 'US');
  service.changed();
  await service.whenIdle();
  expect(await index.seriesTypeAssignments(s1)).toEqual([]);
  expect(
    (await index.seriesTypeAssignmentsOf(await index.allSeriesIds())).map((a) => a.seriesTypeId),
  ).toEqual([us.id]);
});

it('ignores a stored attribute that cannot be evaluated, and the type it belongs to', async () => {
  const ct = await addModalityType('CT', 'CT');
  const broken = (await state.insertSeriesType('broken'))!;
  await state.insertSeriesTypeRuleAttribute({
    seriesTypeRuleId: (await state.insertSeriesTypeRule(broken.id)).id,
    tag: 0x00080060,
    name: 'Modality',
    tagPath: null,
    namePath: null,
    values: '(',
    operator: 'regex',
    flags: '',
  });
  const [s1] = await index.allSeriesIds();
  expect(await service.classify(s1, [...headers.values()][0])).toEqual([ct.id]);
});

it('does not keep a classifier whose load failed, nor one that a change outdated while it loaded', async () => {
  const ct = await addModalityType('CT', 'CT');
  const [s1] = await index.allSeriesIds();
  const header = [...headers.values()][0];
  const definitions = state.seriesTypeDefinitions.bind(state);
  let answers: Array<() => ReturnType<typeof definitions>> = [
    () => Promise.reject(new Error('state store unreachable')),
  ];
  state.seriesTypeDefinitions = () => (answers.shift() ?? definitions)();
  await expect(service.classify(s1, header)).rejects.toThrow('state store unreachable');
  expect(await service.classify(s1, header)).toEqual([ct.id]);

  // A load that answers after a change: the change's classifier is used, not the older answer.
  let release!: () => void;
  const stale = definitions();
  answers = [() => new Promise((resolve) => (release = () => resolve(stale)))];
  service.changed();
  const first = service.classify(s1, header);
  const us = await addModalityType('US+CT', 'CT');
  service.changed();
  expect(await service.classify(s1, header)).toEqual([ct.id, us.id]);
  release();
  expect(await first).toEqual([ct.id]);
  expect(await service.classify(s1, header)).toEqual([ct.id, us.id]);
  await service.whenIdle();
});

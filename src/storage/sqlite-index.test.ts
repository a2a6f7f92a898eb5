import Database from 'better-sqlite3';
import dcmjs from 'dcmjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteIndex } from './sqlite-index.js';
import { indexEngines } from '../../test/helpers/index-engines.js';
import { BadRequestError } from '../errors.js';
import type { DicomHeader } from '../dicom/header.js';
import type { Origin } from '../pipeline/origin.js';
import type { IndexInput, MetadataIndex, MetadataQuery, QueryProperty } from './metadata-index.js';

const { DicomMetaDictionary } = dcmjs.data;

const DEFAULTS: Record<string, string | string[]> = {
  PatientName: 'Doe^John',
  PatientID: 'ID1',
  PatientBirthDate: '19700101',
  PatientSex: 'M',
  StudyInstanceUID: '1.2.3.1',
  StudyDescription: 'Head',
  StudyDate: '20240101',
  StudyID: 'S1',
  AccessionNumber: 'A1',
  PatientAge: '054Y',
  SeriesInstanceUID: '1.2.3.1.1',
  SeriesDescription: 'Axial',
  SeriesDate: '20240101',
  Modality: 'CT',
  ProtocolName: 'Routine',
  BodyPartExamined: 'HEAD',
  Manufacturer: 'ACME',
  StationName: 'CT01',
  FrameOfReferenceUID: '1.2.3.9',
  ImageType: ['ORIGINAL', 'PRIMARY'],
  InstanceNumber: '1',
};

/** A header as dcmjs denaturalizes it: tag → { vr, Value }, person names as { Alphabetic }. */
function header(attributes: Record<string, string | string[]>): DicomHeader {
  const dataset: DicomHeader['dataset'] = {};
  for (const [keyword, value] of Object.entries(attributes)) {
    const entry = DicomMetaDictionary.nameMap[keyword];
    const values = Array.isArray(value) ? value : [value];
    dataset[entry.tag.replace(/[(),]/g, '').toUpperCase()] = {
      vr: entry.vr,
      Value: entry.vr === 'PN' ? values.map((v) => ({ Alphabetic: v })) : values,
    };
  }
  return {
    meta: {},
    dataset,
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    sopInstanceUid: String(attributes.SOPInstanceUID),
    pixelDataOffset: -1,
  };
}

const SCP: Origin = { sourceType: 'scp', sourceId: 1, sourceName: 'Modality SCP' };
const USER: Origin = { sourceType: 'user', sourceId: 2, sourceName: 'admin' };
const BOX: Origin = { sourceType: 'box', sourceId: 23, sourceName: 'Remote box' };

function input(
  sop: string,
  attributes: Record<string, string | string[]> = {},
  origin: Origin = SCP,
): IndexInput {
  return { header: header({ ...DEFAULTS, ...attributes, SOPInstanceUID: sop }), origin, size: 1000 };
}

const q = (queryProperties: QueryProperty[], extra: Partial<MetadataQuery> = {}): MetadataQuery => ({
  startIndex: 0,
  count: 100,
  queryProperties,
  ...extra,
});
const page = { startIndex: 0, count: 100 };

/**
 * Doe^John (ID1): study 1.2.3.1 with a CT series (3 images, scp) and an MR series (1 image, user),
 *                 study 1.2.3.2 with one CT series (1 image, box).
 * Roe^Jane (ID2): study 1.2.3.3 with one US series (2 images, box).
 */
async function fill(index: MetadataIndex) {
  for (const n of [1, 2, 3]) await index.upsert(input(`1.9.1.${n}`, { InstanceNumber: String(n) }));
  await index.upsert(
    input('1.9.2.1', { SeriesInstanceUID: '1.2.3.1.2', Modality: 'MR', SeriesDescription: 'Sag T1' }, USER),
  );
  await index.upsert(
    input(
      '1.9.3.1',
      { StudyInstanceUID: '1.2.3.2', StudyID: 'S2', StudyDate: '20230505', SeriesInstanceUID: '1.2.3.2.1' },
      BOX,
    ),
  );
  for (const n of [1, 2])
    await index.upsert(
      input(
        `1.9.4.${n}`,
        {
          PatientName: 'Roe^Jane',
          PatientID: 'ID2',
          PatientSex: 'F',
          PatientBirthDate: '19800202',
          StudyInstanceUID: '1.2.3.3',
          StudyDescription: 'Abdomen 100%_done',
          StudyDate: '20220303',
          StudyID: 'S3',
          SeriesInstanceUID: '1.2.3.3.1',
          Modality: 'US',
          InstanceNumber: String(n),
        },
        BOX,
      ),
    );
}

let index: MetadataIndex;

describe.each(indexEngines())('on $name', (engine) => {
  beforeEach(async () => {
    index = await engine.open();
  });
  afterEach(() => index.close());

  const names = (rows: Array<{ patientName: { value: string } }>) => rows.map((r) => r.patientName.value);

  describe('upsert', () => {
    it('creates the hierarchy and answers Slicebox-shaped entities', async () => {
      const { image, created } = await index.upsert(input('1.9.1.1'));
      expect(created).toBe(true);
      expect(image).toEqual({
        id: image.id,
        seriesId: image.seriesId,
        sopInstanceUID: { value: '1.9.1.1' },
        imageType: { value: 'ORIGINAL\\PRIMARY' },
        instanceNumber: { value: '1' },
      });
      const series = (await index.series(image.seriesId))!;
      expect(series).toEqual({
        id: image.seriesId,
        studyId: series.studyId,
        seriesInstanceUID: { value: '1.2.3.1.1' },
        seriesDescription: { value: 'Axial' },
        seriesDate: { value: '20240101' },
        modality: { value: 'CT' },
        protocolName: { value: 'Routine' },
        bodyPartExamined: { value: 'HEAD' },
        manufacturer: { value: 'ACME' },
        stationName: { value: 'CT01' },
        frameOfReferenceUID: { value: '1.2.3.9' },
      });
      const study = (await index.study(series.studyId))!;
      expect(study).toEqual({
        id: series.studyId,
        patientId: study.patientId,
        studyInstanceUID: { value: '1.2.3.1' },
        studyDescription: { value: 'Head' },
        studyDate: { value: '20240101' },
        studyID: { value: 'S1' },
        accessionNumber: { value: 'A1' },
        patientAge: { value: '054Y' },
      });
      expect(await index.patient(study.patientId)).toEqual({
        id: study.patientId,
        patientName: { value: 'Doe^John' },
        patientID: { value: 'ID1' },
        patientBirthDate: { value: '19700101' },
        patientSex: { value: 'M' },
      });
      expect(await index.image(image.id)).toEqual(image);
      expect(await index.imageBySopInstanceUid('1.9.1.1')).toEqual(image);
      expect(await index.imageBySopInstanceUid('1.9.9.9')).toBeUndefined();
      expect(await index.flatSeries(series.id)).toEqual({
        id: series.id,
        patient: await index.patient(study.patientId),
        study,
        series,
      });
      expect(await index.seriesSource(series.id)).toEqual({ sourceType: 'scp', sourceId: 1 });
      expect(await index.seriesSourceWithName!(series.id)).toEqual({
        sourceType: 'scp',
        sourceName: 'Modality SCP',
        sourceId: 1,
      });
    });

    it('stores missing attributes as empty strings', async () => {
      const { image } = await index.upsert({
        header: header({ SOPInstanceUID: '1.9.7' }),
        origin: SCP,
        size: 1,
      });
      const flat = (await index.flatSeries(image.seriesId))!;
      expect(flat.patient.patientName).toEqual({ value: '' });
      expect(flat.series.modality).toEqual({ value: '' });
      expect((await index.image(image.id))!.imageType).toEqual({ value: '' });
    });

    it('overwrites an existing SOP instance: same id, created false, last writer wins', async () => {
      const first = await index.upsert(input('1.9.1.1'));
      const second = await index.upsert(
        input(
          '1.9.1.1',
          { InstanceNumber: '7', StudyDescription: 'Head v2', PatientSex: 'O', Modality: 'CT' },
          BOX,
        ),
      );
      expect(second.created).toBe(false);
      expect(second.image.id).toBe(first.image.id);
      expect(second.image.instanceNumber.value).toBe('7');
      expect(await index.allImageIds()).toEqual([first.image.id]);
      const flat = (await index.flatSeries(first.image.seriesId))!;
      expect(flat.study.studyDescription.value).toBe('Head v2');
      expect(flat.patient.patientSex.value).toBe('O');
      expect(await index.seriesSourceWithName!(flat.id)).toEqual({
        sourceType: 'box',
        sourceName: 'Remote box',
        sourceId: 23,
      });
      expect(await index.list('patients', page)).toHaveLength(1);
    });

    it('keys patients by name and ID, studies by patient, series by study', async () => {
      const a = (await index.upsert(input('1.9.1.1'))).image;
      // Same PatientID, other name: another patient, hence another study and series with the same UIDs.
      const b = (await index.upsert(input('1.9.1.2', { PatientName: 'Doe^Johnny' }))).image;
      const c = (await index.upsert(input('1.9.1.3'))).image;
      expect(await index.list('patients', page)).toHaveLength(2);
      expect(await index.list('studies', page)).toHaveLength(2);
      expect(b.seriesId).not.toBe(a.seriesId);
      expect(c.seriesId).toBe(a.seriesId);
    });

    it('truncates patient names to 180 characters', async () => {
      await index.upsert(input('1.9.1.1', { PatientName: 'X'.repeat(300) }));
      await index.upsert(input('1.9.1.2', { PatientName: 'X'.repeat(250) }));
      const patients = await index.list('patients', page);
      expect(patients).toHaveLength(1);
      expect(patients[0].patientName.value).toHaveLength(180);
    });

    it('moves a re-sent instance to its new series and removes what is left empty', async () => {
      const old = (await index.upsert(input('1.9.1.1'))).image;
      const oldStudyId = (await index.series(old.seriesId))!.studyId;
      const moved = await index.upsert(
        input('1.9.1.1', {
          PatientName: 'Anon',
          PatientID: 'ANON1',
          StudyInstanceUID: '2.1',
          SeriesInstanceUID: '2.1.1',
        }),
      );
      expect(moved.created).toBe(false);
      expect(moved.image.id).toBe(old.id);
      expect(moved.image.seriesId).not.toBe(old.seriesId);
      expect(await index.series(old.seriesId)).toBeUndefined();
      expect(await index.study(oldStudyId)).toBeUndefined();
      expect(await index.seriesSource(old.seriesId)).toBeUndefined();
      expect(names(await index.list('patients', page))).toEqual(['Anon']);
    });
  });

  describe('list', () => {
    beforeEach(() => fill(index));

    it('pages and orders', async () => {
      expect(
        names(await index.list('patients', { ...page, orderBy: 'patientName', orderAscending: false })),
      ).toEqual(['Roe^Jane', 'Doe^John']);
      expect(
        names(await index.list('patients', { startIndex: 1, count: 1, orderBy: 'patientName' })),
      ).toEqual(['Roe^Jane']);
      expect(await index.list('patients', { startIndex: 5, count: 10 })).toEqual([]);
      expect(await index.list('images', { ...page, count: 2 })).toHaveLength(2);
      const images = await index.list('images', {
        ...page,
        orderBy: 'instanceNumber',
        orderAscending: false,
      });
      expect(images[0].instanceNumber.value).toBe('3');
      const byDate = await index.list('studies', { ...page, orderBy: 'studyDate' });
      expect(byDate.map((s) => s.studyID.value)).toEqual(['S3', 'S2', 'S1']);
    });

    it('lists children of a parent', async () => {
      const [john] = await index.list('patients', { ...page, filter: 'john' });
      const studies = await index.list('studies', { ...page, parentId: john.id });
      expect(studies.map((s) => s.studyID.value).sort()).toEqual(['S1', 'S2']);
      const s1 = studies.find((s) => s.studyID.value === 'S1')!;
      const series = await index.list('series', { ...page, parentId: s1.id });
      expect(series.map((s) => s.modality.value).sort()).toEqual(['CT', 'MR']);
      const ct = series.find((s) => s.modality.value === 'CT')!;
      expect(await index.list('images', { ...page, parentId: ct.id })).toHaveLength(3);
      expect(await index.list('studies', { ...page, parentId: 9999 })).toEqual([]);
    });

    it('filters case-insensitively over the level string columns, literally', async () => {
      expect(names(await index.list('patients', { ...page, filter: 'ROE' }))).toEqual(['Roe^Jane']);
      expect(names(await index.list('patients', { ...page, filter: 'id2' }))).toEqual(['Roe^Jane']);
      expect(await index.list('patients', { ...page, filter: 'CT' })).toEqual([]);
      expect((await index.list('studies', { ...page, filter: '100%_' })).map((s) => s.studyID.value)).toEqual(
        ['S3'],
      );
      expect(await index.list('studies', { ...page, filter: '0%d' })).toEqual([]);
      expect(await index.list('studies', { ...page, filter: '_' })).toHaveLength(1);
      // flatseries spans patient, study and series columns.
      expect(
        (await index.list('flatseries', { ...page, filter: 'sag t1' })).map((f) => f.series.modality.value),
      ).toEqual(['MR']);
      expect(await index.list('flatseries', { ...page, filter: 'jane' })).toHaveLength(1);
      expect(await index.list('flatseries', { ...page, filter: 'abdomen' })).toHaveLength(1);
    });

    it('orders flatseries by mapped and raw columns', async () => {
      const byPatient = await index.list('flatseries', {
        ...page,
        orderBy: 'patientID',
        orderAscending: false,
      });
      expect(byPatient[0].patient.patientID.value).toBe('ID2');
      const byStudy = await index.list('flatseries', { ...page, orderBy: 'studyID' });
      expect(byStudy.map((f) => f.study.studyID.value)).toEqual(['S1', 'S1', 'S2', 'S3']);
      const byId = await index.list('flatseries', { ...page, orderBy: 'id', orderAscending: false });
      expect(byId.map((f) => f.id)).toEqual([...byId.map((f) => f.id)].sort((a, b) => b - a));
      expect(byId.every((f) => f.id === f.series.id)).toBe(true);
      expect(
        (await index.list('flatseries', { ...page, orderBy: 'modality' })).map(
          (f) => f.series.modality.value,
        ),
      ).toEqual(['CT', 'CT', 'MR', 'US']);
    });

    it('rejects an orderBy that is not a column of the level', async () => {
      await expect(index.list('patients', { ...page, orderBy: 'nope' })).rejects.toThrow(BadRequestError);
      await expect(index.list('patients', { ...page, orderBy: 'nope' })).rejects.toThrow(
        'Property nope does not exist',
      );
      await expect(index.list('patients', { ...page, orderBy: 'modality' })).rejects.toThrow(BadRequestError);
      await expect(index.list('patients', { ...page, orderBy: 'patientid' })).rejects.toThrow(
        BadRequestError,
      );
      await expect(index.list('flatseries', { ...page, orderBy: 'sopInstanceUID' })).rejects.toThrow(
        BadRequestError,
      );
      await expect(index.list('patients', { ...page, orderBy: 'id; DROP TABLE Patients' })).rejects.toThrow(
        BadRequestError,
      );
      await expect(index.list('patients', { startIndex: -1, count: 1 })).rejects.toThrow(BadRequestError);
    });

    it('filters by source, series type and series tag: OR within a list, AND across lists', async () => {
      const byScp = { sourceRefs: [{ sourceType: 'scp' as const, sourceId: 1 }] };
      expect(names(await index.list('patients', { ...page, filters: byScp }))).toEqual(['Doe^John']);
      expect((await index.list('studies', { ...page, filters: byScp })).map((s) => s.studyID.value)).toEqual([
        'S1',
      ]);
      expect((await index.list('series', { ...page, filters: byScp })).map((s) => s.modality.value)).toEqual([
        'CT',
      ]);
      expect(await index.list('flatseries', { ...page, filters: byScp })).toHaveLength(1);
      const either = { sourceRefs: [...byScp.sourceRefs, { sourceType: 'user' as const, sourceId: 2 }] };
      expect(await index.list('series', { ...page, filters: either })).toHaveLength(2);
      expect(
        await index.list('series', {
          ...page,
          filters: { sourceRefs: [{ sourceType: 'box', sourceId: 1 }] },
        }),
      ).toEqual([]);
      expect(await index.list('series', { ...page, filters: { sourceRefs: [] } })).toHaveLength(4);
      expect(await index.list('patients', { ...page, filters: { seriesTypeIds: [1] } })).toEqual([]);
    });
  });

  describe('series types and tags', () => {
    beforeEach(() => fill(index));

    it('ANDs the three lists on one series and ORs within each', async () => {
      const series = await index.list('flatseries', page);
      const ct1 = series.find((f) => f.study.studyID.value === 'S1' && f.series.modality.value === 'CT')!.id;
      const mr = series.find((f) => f.series.modality.value === 'MR')!.id;
      const us = series.find((f) => f.series.modality.value === 'US')!.id;
      await index.setAutomaticSeriesTypes(ct1, [5]);
      await index.assignSeriesType(mr, 6);
      await index.setAutomaticSeriesTypes(us, [5]);
      expect((await index.addSeriesTagToSeries(mr, 'review')).id).toBe(1);
      expect((await index.addSeriesTagToSeries(us, 'review')).id).toBe(1);
      const ids = (rows: Array<{ id: number }>) => rows.map((r) => r.id).sort();
      expect(ids(await index.list('series', { ...page, filters: { seriesTypeIds: [5] } }))).toEqual(
        [ct1, us].sort(),
      );
      expect(ids(await index.list('series', { ...page, filters: { seriesTypeIds: [5, 6] } }))).toEqual(
        [ct1, mr, us].sort(),
      );
      expect(
        ids(await index.list('series', { ...page, filters: { seriesTypeIds: [5], seriesTagIds: [1] } })),
      ).toEqual([us]);
      expect(
        names(
          await index.list('patients', {
            ...page,
            filters: { seriesTypeIds: [5, 6], seriesTagIds: [1], sourceRefs: [USER] },
          }),
        ),
      ).toEqual(['Doe^John']);
      // Doe^John has a type-5 series and a tag-1 series, but no one series with both.
      expect(
        names(await index.list('patients', { ...page, filters: { seriesTypeIds: [5], seriesTagIds: [1] } })),
      ).toEqual(['Roe^Jane']);
      const john = (await index.list('patients', { ...page, filter: 'john' }))[0];
      expect(await index.imagesOfPatient(john.id, { seriesTypeIds: [6] })).toHaveLength(1);
      expect(
        (await index.query('studies', q([], { filters: { seriesTagIds: [1] } })))
          .map((s) => s.studyID.value)
          .sort(),
      ).toEqual(['S1', 'S3']);
    });
  });

  describe('query', () => {
    beforeEach(() => fill(index));

    it('= and like', async () => {
      expect(
        names(
          await index.query(
            'patients',
            q([{ propertyName: 'patientID', operator: '=', propertyValue: 'ID2' }]),
          ),
        ),
      ).toEqual(['Roe^Jane']);
      expect(
        await index.query(
          'patients',
          q([{ propertyName: 'patientID', operator: '=', propertyValue: 'id2' }]),
        ),
      ).toEqual([]);
      expect(
        names(
          await index.query(
            'patients',
            q([{ propertyName: 'patientName', operator: 'like', propertyValue: 'OE^J' }]),
          ),
        ),
      ).toEqual(['Doe^John', 'Roe^Jane']);
      const like = async (v: string) =>
        await index.query(
          'studies',
          q([{ propertyName: 'studyDescription', operator: 'like', propertyValue: v }]),
        );
      expect(await like('100%_')).toHaveLength(1);
      expect(await like('%')).toHaveLength(1);
      expect(await like('0%d')).toEqual([]);
      expect(await like('e_d')).toEqual([]);
    });

    it('<, >, <=, >= compare strings, and ids as numbers', async () => {
      const dates = async (operator: QueryProperty['operator'], v: string) =>
        (
          await index.query(
            'studies',
            q([{ propertyName: 'studyDate', operator, propertyValue: v }], {
              order: { orderBy: 'studyDate', orderAscending: true },
            }),
          )
        ).map((s) => s.studyDate.value);
      expect(await dates('<', '20230505')).toEqual(['20220303']);
      expect(await dates('<=', '20230505')).toEqual(['20220303', '20230505']);
      expect(await dates('>', '20230505')).toEqual(['20240101']);
      expect(await dates('>=', '20230505')).toEqual(['20230505', '20240101']);
      const all = (await index.query('images', q([]))).map((i) => i.id);
      const min = Math.min(...all);
      expect(
        await index.query('images', q([{ propertyName: 'id', operator: '>', propertyValue: String(min) }])),
      ).toHaveLength(all.length - 1);
      expect(
        await index.query('images', q([{ propertyName: 'size', operator: '>=', propertyValue: '1000' }])),
      ).toHaveLength(all.length);
    });

    it('in takes an array or a comma-separated string, never an empty list', async () => {
      const modalities = async (propertyValue: string | string[]) =>
        (await index.query('series', q([{ propertyName: 'modality', operator: 'in', propertyValue }])))
          .map((s) => s.modality.value)
          .sort();
      expect(await modalities(['MR', 'US'])).toEqual(['MR', 'US']);
      expect(await modalities('CT, US')).toEqual(['CT', 'CT', 'US']);
      expect(await modalities('MR')).toEqual(['MR']);
      await expect(modalities([])).rejects.toThrow(BadRequestError);
      await expect(modalities(' , ')).rejects.toThrow(BadRequestError);
      await expect(
        index.query('series', q([{ propertyName: 'modality', operator: '=', propertyValue: ['CT'] }])),
      ).rejects.toThrow(BadRequestError);
    });

    it('ANDs properties and joins across levels, answering distinct rows of the level', async () => {
      const ct = q([{ propertyName: 'modality', operator: '=', propertyValue: 'CT' }]);
      expect(names(await index.query('patients', ct))).toEqual(['Doe^John']);
      expect((await index.query('studies', ct)).map((s) => s.studyID.value)).toEqual(['S1', 'S2']);
      expect(
        names(
          await index.query(
            'patients',
            q([
              { propertyName: 'modality', operator: '=', propertyValue: 'CT' },
              { propertyName: 'studyID', operator: '=', propertyValue: 'S2' },
            ]),
          ),
        ),
      ).toEqual(['Doe^John']);
      expect(
        await index.query(
          'patients',
          q([
            { propertyName: 'modality', operator: '=', propertyValue: 'MR' },
            { propertyName: 'patientSex', operator: '=', propertyValue: 'F' },
          ]),
        ),
      ).toEqual([]);
      const images = await index.query(
        'images',
        q([{ propertyName: 'patientName', operator: 'like', propertyValue: 'jane' }]),
      );
      expect(images.map((i) => i.sopInstanceUID.value).sort()).toEqual(['1.9.4.1', '1.9.4.2']);
      expect(
        names(
          await index.query(
            'patients',
            q([{ propertyName: 'sopInstanceUID', operator: '=', propertyValue: '1.9.2.1' }]),
          ),
        ),
      ).toEqual(['Doe^John']);
      const flat = await index.query(
        'flatseries',
        q([{ propertyName: 'instanceNumber', operator: '=', propertyValue: '2' }]),
      );
      expect(flat.map((f) => f.series.modality.value).sort()).toEqual(['CT', 'US']);
      const [jane] = await index.query(
        'patients',
        q([{ propertyName: 'patientID', operator: '=', propertyValue: 'ID2' }]),
      );
      const janeStudies = await index.query(
        'studies',
        q([{ propertyName: 'patientId', operator: '=', propertyValue: String(jane.id) }]),
      );
      expect(janeStudies.map((s) => s.studyID.value)).toEqual(['S3']);
      expect(
        await index.query(
          'patients',
          q([{ propertyName: 'id', operator: '=', propertyValue: String(jane.id) }]),
        ),
      ).toEqual([jane]);
    });

    it('pages, orders and filters query results', async () => {
      const ordered = await index.query(
        'images',
        q([], { order: { orderBy: 'sopInstanceUID', orderAscending: false }, count: 2 }),
      );
      expect(ordered.map((i) => i.sopInstanceUID.value)).toEqual(['1.9.4.2', '1.9.4.1']);
      expect(await index.query('images', q([], { startIndex: 6 }))).toHaveLength(1);
      const fromBox = await index.query(
        'images',
        q([], { filters: { sourceRefs: [{ sourceType: 'box', sourceId: 23 }] } }),
      );
      expect(fromBox).toHaveLength(3);
      await expect(
        index.query('images', q([], { order: { orderBy: 'patientName', orderAscending: true } })),
      ).rejects.toThrow(BadRequestError);
    });

    it('rejects unknown properties and operators with a clear message', async () => {
      await expect(
        index.query('patients', q([{ propertyName: 'nope', operator: '=', propertyValue: 'x' }])),
      ).rejects.toThrow('Property nope does not exist');
      await expect(
        index.query(
          'patients',
          q([{ propertyName: 'patientName', operator: 'regex' as never, propertyValue: 'x' }]),
        ),
      ).rejects.toThrow(/Unknown operator "regex".*=, like/);
      await expect(
        index.query(
          'patients',
          q([{ propertyName: 'patientName" = 1 OR "1', operator: '=', propertyValue: 'x' }]),
        ),
      ).rejects.toThrow(BadRequestError);
    });

    it('treats SQL in values and filters as plain text', async () => {
      const attacks = ["' OR '1'='1", "x'); DROP TABLE Patients; --", '" OR 1=1 --', '%%', '\\'];
      for (const attack of attacks) {
        expect(
          await index.query(
            'patients',
            q([{ propertyName: 'patientName', operator: '=', propertyValue: attack }]),
          ),
        ).toEqual([]);
        expect(
          await index.query(
            'patients',
            q([{ propertyName: 'patientName', operator: 'like', propertyValue: attack }]),
          ),
        ).toEqual([]);
        expect(
          await index.query(
            'patients',
            q([{ propertyName: 'patientName', operator: 'in', propertyValue: [attack] }]),
          ),
        ).toEqual([]);
        expect(await index.list('patients', { ...page, filter: attack })).toEqual([]);
        expect(await index.list('flatseries', { ...page, filter: attack })).toEqual([]);
      }
      await index.upsert(input('1.9.9.1', { PatientName: "O'Brien; DROP TABLE Images", PatientID: 'X' }));
      expect(names(await index.list('patients', { ...page, filter: "o'brien; drop" }))).toEqual([
        "O'Brien; DROP TABLE Images",
      ]);
      expect(await index.list('patients', page)).toHaveLength(3);
      expect(await index.allImageIds()).toHaveLength(8);
    });
  });

  describe('deleteImages', () => {
    beforeEach(() => fill(index));

    it('cascades away empty series, studies and patients, and answers the ids that existed', async () => {
      const jane = (
        await index.query('patients', q([{ propertyName: 'patientID', operator: '=', propertyValue: 'ID2' }]))
      )[0];
      const janeImages = await index.imagesOfPatient(jane.id);
      expect(janeImages).toHaveLength(2);
      const seriesId = janeImages[0].seriesId;
      const studyId = (await index.series(seriesId))!.studyId;

      expect(await index.deleteImages([janeImages[0].id, 424242])).toEqual([janeImages[0].id]);
      expect(await index.series(seriesId)).toBeDefined();
      expect(await index.deleteImages([janeImages[1].id, janeImages[1].id])).toEqual([janeImages[1].id]);
      expect(await index.series(seriesId)).toBeUndefined();
      expect(await index.seriesSource(seriesId)).toBeUndefined();
      expect(await index.study(studyId)).toBeUndefined();
      expect(await index.patient(jane.id)).toBeUndefined();
      expect(await index.imagesOfPatient(jane.id)).toEqual([]);

      // Deleting one of John's series keeps his study and patient.
      const mr = (
        await index.query('series', q([{ propertyName: 'modality', operator: '=', propertyValue: 'MR' }]))
      )[0];
      const mrImages = await index.list('images', { ...page, parentId: mr.id });
      expect(await index.deleteImages(mrImages.map((i) => i.id))).toHaveLength(1);
      expect(await index.series(mr.id)).toBeUndefined();
      expect(await index.study(mr.studyId)).toBeDefined();
      expect(await index.deleteImages([])).toEqual([]);
      expect(await index.allImageIds()).toHaveLength(4);
    });
  });

  describe('images of a patient or study', () => {
    beforeEach(() => fill(index));

    it('lists every image under the parent, narrowed by filters', async () => {
      const [john] = await index.list('patients', { ...page, filter: 'john' });
      expect(await index.imagesOfPatient(john.id)).toHaveLength(5);
      expect(
        await index.imagesOfPatient(john.id, { sourceRefs: [{ sourceType: 'user', sourceId: 2 }] }),
      ).toHaveLength(1);
      const s1 = (await index.list('studies', { ...page, parentId: john.id })).find(
        (s) => s.studyID.value === 'S1',
      )!;
      expect(await index.imagesOfStudy(s1.id)).toHaveLength(4);
      expect(
        await index.imagesOfStudy(s1.id, { sourceRefs: [{ sourceType: 'scp', sourceId: 1 }] }),
      ).toHaveLength(3);
      expect(await index.imagesOfStudy(9999)).toEqual([]);
    });
  });

  describe('free-text filter through the trigram tables', () => {
    /** Values with LIKE wildcards, quotes, backslashes, FTS syntax, non-ASCII case and a NUL. */
    const WORDS = [
      "O'Brien",
      'Smith-Jones',
      '100%_x',
      'a\\b"c',
      'NEAR(x y)',
      'Émile',
      'émile',
      'zz\u0000zz',
      'AND OR',
    ];
    const asciiLower = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
    const contains = (values: string[], text: string) =>
      values.some((v) => asciiLower(v).includes(asciiLower(text)));

    beforeEach(async () => {
      for (const [n, word] of WORDS.entries())
        await await index.upsert(
          input(`1.8.${n}`, {
            PatientName: `${word}^P${n}`,
            PatientID: `PID${n}`,
            StudyInstanceUID: `1.7.${n}`,
            StudyDescription: `study ${WORDS[(n + 1) % WORDS.length]}`,
            SeriesInstanceUID: `1.7.${n}.1`,
            SeriesDescription: `series ${WORDS[(n + 2) % WORDS.length]}`,
          }),
        );
    });

    it('finds exactly what a LIKE over every column finds, for hostile texts too', async () => {
      const texts = [
        ...WORDS,
        'BRIEN',
        "o'b",
        '%_x',
        '\\b"',
        'mile',
        'ÉMI',
        'NEAR(',
        'z\u0000z',
        'P1',
        'ies sm',
        'xyz',
      ];
      for (const text of texts) {
        const patients = await index.list('patients', { ...page, filter: text });
        const expected = WORDS.map((w, n) => [`${w}^P${n}`, `PID${n}`, '19700101', 'M']).filter((values) =>
          contains(values, text),
        );
        expect(names(patients).sort(), text).toEqual(expected.map((v) => v[0]).sort());
        const flat = await index.list('flatseries', { ...page, filter: text });
        const flatExpected = WORDS.filter((w, n) =>
          contains(
            [
              `${w}^P${n}`,
              `PID${n}`,
              `study ${WORDS[(n + 1) % WORDS.length]}`,
              `series ${WORDS[(n + 2) % WORDS.length]}`,
              `1.7.${n}`,
              `1.7.${n}.1`,
              ...Object.values(DEFAULTS).flat(),
            ],
            text,
          ),
        );
        expect(flat.length, text).toBe(flatExpected.length);
      }
    });

    it('gives a flat series matched through several levels once, ordered and paged', async () => {
      await index.upsert(
        input('1.8.100', {
          PatientName: 'Twice^Match',
          StudyDescription: 'twice study',
          SeriesDescription: 'twice series',
          StudyInstanceUID: '1.7.100',
          SeriesInstanceUID: '1.7.100.1',
        }),
      );
      await index.upsert(
        input('1.8.101', {
          PatientName: 'Twice^Other',
          PatientID: 'PID101',
          StudyInstanceUID: '1.7.101',
          SeriesInstanceUID: '1.7.101.1',
        }),
      );
      const flatNames = (rows: Array<{ patient: { patientName: { value: string } } }>) =>
        rows.map((f) => f.patient.patientName.value);
      const all = await index.list('flatseries', { ...page, filter: 'twice', orderBy: 'patientName' });
      expect(flatNames(all)).toEqual(['Twice^Match', 'Twice^Other']);
      const down = await index.list('flatseries', {
        ...page,
        filter: 'twice',
        orderBy: 'patientName',
        orderAscending: false,
      });
      expect(flatNames(down)).toEqual(['Twice^Other', 'Twice^Match']);
      const second = await index.list('flatseries', {
        startIndex: 1,
        count: 1,
        filter: 'twice',
        orderBy: 'patientName',
      });
      expect(flatNames(second)).toEqual(['Twice^Other']);
      const byId = await index.list('flatseries', { ...page, filter: 'twice' });
      expect(byId.map((f) => f.id)).toEqual([...byId.map((f) => f.id)].sort((a, b) => a - b));
      expect(byId).toHaveLength(2);
    });

    it('follows updates and deletions', async () => {
      expect(names(await index.list('patients', { ...page, filter: 'smith' }))).toEqual(['Smith-Jones^P1']);
      await index.upsert(
        input('1.8.1', { PatientName: 'Smith-Jones^P1', PatientID: 'PID1', PatientSex: 'O' }),
      );
      await index.upsert(input('1.8.99', { PatientName: 'Doe^Q', StudyDescription: 'Smithfield' }));
      expect(
        (await index.list('studies', { ...page, filter: 'smithf' })).map((s) => s.studyDescription.value),
      ).toEqual(['Smithfield']);
      const [doe] = await index.list('patients', { ...page, filter: 'doe^q' });
      await index.deleteImages((await index.imagesOfPatient(doe.id)).map((i) => i.id));
      expect(await index.list('studies', { ...page, filter: 'smithf' })).toEqual([]);
    });
    it.runIf(engine.name === 'sqlite')('is built from the rows of a database indexed before it', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sluice-index-text-'));
      try {
        const path = join(dir, 'index.sqlite');
        const before = openSqliteIndex(path);
        await before.upsert(input('1.8.50', { PatientName: 'Older^Row', StudyDescription: 'kept before' }));
        await before.close();
        const raw = new Database(path);
        for (const table of ['Patients', 'Studies', 'Series']) {
          for (const suffix of ['insert', 'delete', 'update'])
            raw.exec(`DROP TRIGGER "${table}_text_${suffix}"`);
          raw.exec(`DROP TABLE "${table}Text"`);
        }
        raw.close();
        const after = openSqliteIndex(path);
        expect(names(await after.list('patients', { ...page, filter: 'older' }))).toEqual(['Older^Row']);
        expect(await after.list('flatseries', { ...page, filter: 'kept bef' })).toHaveLength(1);
        await after.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('deep pages', () => {
    it('answers the same rows at any start index as one long page, in every order', async () => {
      for (let n = 0; n < 60; n++)
        await index.upsert(
          input(`1.6.${n}`, {
            PatientName: `P${(n * 7) % 13}^X`,
            PatientID: `I${n % 20}`,
            StudyInstanceUID: `1.5.${n % 30}`,
            SeriesInstanceUID: `1.5.${n % 30}.${n % 2}`,
            StudyDate: `2024${String(1 + (n % 12)).padStart(2, '0')}01`,
          }),
        );
      for (const level of ['patients', 'studies', 'flatseries', 'images'] as const)
        for (const orderBy of [
          undefined,
          level === 'images' ? 'instanceNumber' : level === 'patients' ? 'patientName' : 'studyDate',
        ])
          for (const orderAscending of [true, false]) {
            const all = await index.list(level as 'patients', {
              startIndex: 0,
              count: 1000,
              orderBy,
              orderAscending,
            });
            const paged = (
              await Promise.all(
                [0, 7, 14, 21, 28, 35, 42, 49, 56].map((startIndex) =>
                  index.list(level as 'patients', { startIndex, count: 7, orderBy, orderAscending }),
                ),
              )
            ).flat();
            expect(paged, `${level} ${orderBy} ${orderAscending}`).toEqual(all.slice(0, 63));
          }
    });
  });
});

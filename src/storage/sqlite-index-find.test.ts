import dcmjs from 'dcmjs';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { indexEngines, onClickHouse } from '../../test/helpers/index-engines.js';
import type { DicomHeader } from '../dicom/header.js';
import type { MetadataIndex } from './metadata-index.js';
import { findAttribute, matcherOf, QueryError, type FindLevel, type FindQuery } from './find-query.js';
import { migrateQueryColumns } from './sqlite-index-tables.js';
import { likeOf, globOf } from './sqlite-index-find.js';

const { DicomMetaDictionary } = dcmjs.data;

function header(attributes: Record<string, string | string[] | number>): DicomHeader {
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
    transferSyntaxUid: String(attributes.TransferSyntax ?? '1.2.840.10008.1.2.1'),
    sopClassUid: String(attributes.SOPClassUID ?? '1.2.840.10008.5.1.4.1.1.2'),
    sopInstanceUid: String(attributes.SOPInstanceUID),
    pixelDataOffset: -1,
  };
}

let index: MetadataIndex;
let n = 0;
async function add(attributes: Record<string, string | string[] | number>): Promise<void> {
  n++;
  await index.upsert({
    header: header({
      PatientName: 'Doe^John',
      PatientID: 'P1',
      StudyInstanceUID: '1.2.1',
      SeriesInstanceUID: '1.2.1.1',
      SOPInstanceUID: `1.2.9.${n}`,
      Modality: 'CT',
      ...attributes,
    }),
    origin: { sourceType: 'scp', sourceId: 1, sourceName: 'SCP' },
    size: 100,
  });
}

/** Values of `keyword` at `level` for the given keys, as DICOM writes them. */
async function find(
  level: FindLevel,
  keys: Record<string, string>,
  returns: string[],
  caseInsensitiveNames = true,
) {
  const query: FindQuery = {
    level,
    keys: Object.entries(keys).flatMap(([keyword, value]) => {
      const matcher = matcherOf(findAttribute(keyword)!, value);
      return matcher ? [{ keyword, matcher }] : [];
    }),
    returns,
    caseInsensitiveNames,
    limit: 100,
  };
  return (await index.find(query)).map((m) => m.values);
}

describe.each(indexEngines())('on $name', (engine) => {
  beforeEach(async () => {
    index = await engine.open();
    const study = { StudyDate: '20240105', StudyTime: '101500', AccessionNumber: 'ACC_1' };
    await add({ ...study, Rows: 512, Columns: 512 });
    await add({ ...study, SeriesInstanceUID: '1.2.1.2', Modality: 'MR', SeriesNumber: '2' });
    await add({
      PatientName: 'Smith^Anne',
      PatientID: 'P2',
      StudyInstanceUID: '1.2.2',
      SeriesInstanceUID: '1.2.2.1',
      StudyDate: '20230701',
      StudyTime: '0930',
      AccessionNumber: 'ACC%2',
      ReferringPhysicianName: 'Who^Doctor',
      SOPClassUID: '1.2.840.10008.5.1.4.1.1.4',
    });
    await add({
      PatientName: 'smith^bob',
      PatientID: 'P3*',
      StudyInstanceUID: '1.2.3',
      SeriesInstanceUID: '1.2.3.1',
      StudyDate: '20221231',
      StudyTime: '235959.5',
    });
  });
  afterEach(() => index.close());

  describe('index find (C-FIND and QIDO-RS matching)', () => {
    it('returns study attributes with counts, modalities and SOP classes computed from below', async () => {
      expect(
        await find('STUDY', { PatientID: 'P1' }, [
          'StudyInstanceUID',
          'StudyDate',
          'StudyTime',
          'AccessionNumber',
          'ModalitiesInStudy',
          'SOPClassesInStudy',
          'NumberOfStudyRelatedSeries',
          'NumberOfStudyRelatedInstances',
          'PatientName',
        ]),
      ).toEqual([
        {
          StudyInstanceUID: '1.2.1',
          StudyDate: '20240105',
          StudyTime: '101500',
          AccessionNumber: 'ACC_1',
          ModalitiesInStudy: 'CT\\MR',
          SOPClassesInStudy: '1.2.840.10008.5.1.4.1.1.2',
          NumberOfStudyRelatedSeries: '2',
          NumberOfStudyRelatedInstances: '2',
          PatientName: 'Doe^John',
        },
      ]);
      expect(
        await find('PATIENT', { PatientID: 'P1' }, [
          'NumberOfPatientRelatedStudies',
          'NumberOfPatientRelatedInstances',
        ]),
      ).toEqual([{ NumberOfPatientRelatedStudies: '1', NumberOfPatientRelatedInstances: '2' }]);
      expect(
        await find('SERIES', { StudyInstanceUID: '1.2.1' }, [
          'Modality',
          'SeriesNumber',
          'NumberOfSeriesRelatedInstances',
        ]),
      ).toEqual([
        { Modality: 'CT', SeriesNumber: '', NumberOfSeriesRelatedInstances: '1' },
        { Modality: 'MR', SeriesNumber: '2', NumberOfSeriesRelatedInstances: '1' },
      ]);
      expect(
        await find('IMAGE', { SeriesInstanceUID: '1.2.1.1' }, [
          'Rows',
          'Columns',
          'AvailableTransferSyntaxUID',
        ]),
      ).toEqual([{ Rows: '512', Columns: '512', AvailableTransferSyntaxUID: '1.2.840.10008.1.2.1' }]);
    });

    it('matches wildcards, person names regardless of case when configured, and escapes LIKE and GLOB', async () => {
      const names = async (keys: Record<string, string>, ci = true) =>
        (await find('PATIENT', keys, ['PatientName'], ci)).map((v) => v.PatientName);
      expect(await names({ PatientName: 'SMITH*' })).toEqual(['Smith^Anne', 'smith^bob']);
      expect(await names({ PatientName: 'SMITH*' }, false)).toEqual([]);
      expect(await names({ PatientName: 'Smith*' }, false)).toEqual(['Smith^Anne']);
      expect(await names({ PatientName: 'smith^?ob' })).toEqual(['smith^bob']);
      expect(await names({ PatientName: 'doe^john' })).toEqual(['Doe^John']);
      expect(await names({ PatientName: 'doe^john' }, false)).toEqual([]);
      // `_` and `%` are not wildcards in DICOM; `*` in a stored value is only matched by a wildcard.
      expect(await find('STUDY', { AccessionNumber: 'ACC_*' }, ['AccessionNumber'])).toEqual([
        { AccessionNumber: 'ACC_1' },
      ]);
      expect(await find('STUDY', { AccessionNumber: 'ACC%*' }, ['AccessionNumber'])).toEqual([
        { AccessionNumber: 'ACC%2' },
      ]);
      expect(await find('PATIENT', { PatientID: 'P3*' }, ['PatientID'])).toEqual([{ PatientID: 'P3*' }]);
      expect((await find('PATIENT', { PatientID: 'P?' }, ['PatientID'])).map((v) => v.PatientID)).toEqual([
        'P1',
        'P2',
      ]);
      expect(likeOf('a_b%c\\d*e?')).toBe('a\\_b\\%c\\\\d%e_');
      expect(globOf('a[b]*')).toBe('a[[]b]*');
      expect(await find('STUDY', { ReferringPhysicianName: 'who*' }, ['ReferringPhysicianName'])).toEqual([
        { ReferringPhysicianName: 'Who^Doctor' },
      ]);
    });

    it('matches date and time ranges, UID lists and multi-valued study attributes', async () => {
      const studies = async (keys: Record<string, string>) =>
        (await find('STUDY', keys, ['StudyInstanceUID'])).map((v) => v.StudyInstanceUID);
      expect(await studies({ StudyDate: '20230101-20241231' })).toEqual(['1.2.1', '1.2.2']);
      expect(await studies({ StudyDate: '-20230701' })).toEqual(['1.2.2', '1.2.3']);
      expect(await studies({ StudyDate: '20240105-' })).toEqual(['1.2.1']);
      expect(await studies({ StudyDate: '20221231' })).toEqual(['1.2.3']);
      // Times: a short stored value ("0930") is 09:30:00; a short bound covers its whole minute or hour.
      expect(await studies({ StudyTime: '0900-1000' })).toEqual(['1.2.2']);
      expect(await studies({ StudyTime: '1015' })).toEqual(['1.2.1']);
      expect(await studies({ StudyTime: '2359-' })).toEqual(['1.2.3']);
      expect(await studies({ StudyTime: '-235959' })).toEqual(['1.2.1', '1.2.2', '1.2.3']);
      expect(await studies({ StudyInstanceUID: '1.2.1\\1.2.3\\9.9' })).toEqual(['1.2.1', '1.2.3']);
      expect(await studies({ ModalitiesInStudy: 'MR' })).toEqual(['1.2.1']);
      expect(await studies({ ModalitiesInStudy: 'MR\\CT' })).toEqual(['1.2.1', '1.2.2', '1.2.3']);
      expect(await studies({ SOPClassesInStudy: '1.2.840.10008.5.1.4.1.1.4' })).toEqual(['1.2.2']);
      expect(
        await find('IMAGE', { StudyInstanceUID: '1.2.1', Modality: 'MR' }, ['SOPInstanceUID']),
      ).toHaveLength(1);
    });

    it('matches names fuzzily by the start of any component', async () => {
      const fuzzy = async (value: string) =>
        (
          await index.find({
            level: 'PATIENT',
            keys: [
              {
                keyword: 'PatientName',
                matcher: matcherOf(findAttribute('PatientName')!, value, { fuzzy: true })!,
              },
            ],
            returns: ['PatientName'],
            caseInsensitiveNames: false,
            limit: 10,
          })
        ).map((m) => m.values.PatientName);
      expect(await fuzzy('jo')).toEqual(['Doe^John']);
      expect(await fuzzy('SMI')).toEqual(['Smith^Anne', 'smith^bob']);
      expect(await fuzzy('mith')).toEqual([]);
    });

    it('pages by offset and by row id', async () => {
      const all = await index.find({
        level: 'STUDY',
        keys: [],
        returns: [],
        caseInsensitiveNames: true,
        limit: 10,
      });
      expect(all).toHaveLength(3);
      const page = await index.find({
        level: 'STUDY',
        keys: [],
        returns: [],
        caseInsensitiveNames: true,
        limit: 1,
        offset: 1,
      });
      expect(page[0].id).toBe(all[1].id);
      const after = await index.find({
        level: 'STUDY',
        keys: [],
        returns: [],
        caseInsensitiveNames: true,
        limit: 10,
        afterId: all[0].id,
      });
      expect(after.map((m) => m.id)).toEqual([all[1].id, all[2].id]);
    });

    it('refuses values an attribute cannot take, keys below the level, and matching on counts', async () => {
      const bad = (keyword: string, value: string) => () => matcherOf(findAttribute(keyword)!, value);
      expect(bad('StudyDate', '2024')).toThrow(QueryError);
      expect(bad('StudyDate', '20240101-2023')).toThrow(/not a date/);
      expect(bad('StudyDate', '20240102-20240101')).toThrow(/ends before it starts/);
      expect(bad('StudyInstanceUID', '1.2.*')).toThrow(/cannot hold the wildcards/);
      expect(bad('NumberOfStudyRelatedInstances', '3')).toThrow(/returned but not matched/);
      expect(bad('StudyTime', '25')).toThrow(/not a time/);
      expect(matcherOf(findAttribute('PatientName')!, '*')).toBeUndefined();
      await expect(find('STUDY', { Modality: 'CT' }, [])).rejects.toThrow(/below the query level STUDY/);
    });
  });
});

describe.skipIf(onClickHouse())('query columns migration', () => {
  it('adds the Query/Retrieve columns to an index created before them', () => {
    const db = new Database(':memory:');
    db.exec(
      `CREATE TABLE Patients (id INTEGER PRIMARY KEY, patientName TEXT NOT NULL DEFAULT '', patientID TEXT NOT NULL DEFAULT '');
       CREATE TABLE Studies (id INTEGER PRIMARY KEY, patientId INTEGER, studyInstanceUID TEXT, studyDate TEXT, accessionNumber TEXT);
       CREATE TABLE Series (id INTEGER PRIMARY KEY, studyId INTEGER, seriesInstanceUID TEXT);
       CREATE TABLE Images (id INTEGER PRIMARY KEY, seriesId INTEGER);
       INSERT INTO Images (seriesId) VALUES (1);`,
    );
    expect(migrateQueryColumns(db)).toBe(10);
    expect(db.prepare('SELECT rows, numberOfFrames FROM Images').get()).toEqual({
      rows: '',
      numberOfFrames: '',
    });
    expect(migrateQueryColumns(db)).toBe(0);
    db.close();
  });
});

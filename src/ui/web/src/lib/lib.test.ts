import { describe, expect, it } from 'vitest';
import { describeFailure } from './api';
import { byInstanceNumber, dicomDate, personName, tagString, toDicomDate } from './format';
import { EMPTY_SEARCH, metadataQuery } from './metadata';
import { formatTagPath, parseTagPath } from './tagpath';

describe('the UI helpers', () => {
  it('turns tag paths typed by people into TagTree JSON and back', () => {
    expect(parseTagPath('PatientAddress')).toEqual({ name: 'PatientAddress' });
    expect(parseTagPath('(0008,1140)[*].(0008,1155)')).toEqual({
      tag: 0x00081155,
      previous: { tag: 0x00081140, item: '*' },
    });
    expect(parseTagPath('ReferencedImageSequence.ReferencedSOPInstanceUID')).toEqual({
      name: 'ReferencedSOPInstanceUID',
      previous: { name: 'ReferencedImageSequence', item: '*' },
    });
    expect(() => parseTagPath('not a tag!')).toThrow(/neither a keyword nor a tag/);
    expect(
      formatTagPath({
        tag: 0x00081155,
        name: '',
        previous: { tag: 0x00081140, name: 'ReferencedImageSequence', item: '1' },
      }),
    ).toBe('ReferencedImageSequence[1].(0008,1155)');
  });

  it('formats DICOM values for people', () => {
    expect(dicomDate('20260131')).toBe('2026-01-31');
    expect(toDicomDate('2026-01-31')).toBe('20260131');
    expect(personName('Doe^John^^Dr')).toBe('Doe, Dr John');
    expect(tagString(0x00100010)).toBe('(0010,0010)');
    const img = (n: string, id: number) => ({ id, instanceNumber: { value: n } });
    expect(
      [img('10', 1), img('2', 2), img('', 3), img('1', 4)].sort(byInstanceNumber).map((i) => i.id),
    ).toEqual([4, 2, 1, 3]);
  });

  it('builds Slicebox queries from the search form', () => {
    const q = metadataQuery(
      {
        ...EMPTY_SEARCH,
        patientName: ' ali ',
        modality: 'ct',
        dateFrom: '2026-01-01',
        sources: ['scp:1'],
        seriesTypes: ['2'],
      },
      25,
      26,
      {
        by: 'patientName',
        ascending: false,
      },
    );
    expect(q).toEqual({
      startIndex: 25,
      count: 26,
      order: { orderBy: 'patientName', orderAscending: false },
      queryProperties: [
        { propertyName: 'patientName', operator: 'like', propertyValue: 'ali' },
        { propertyName: 'modality', operator: '=', propertyValue: 'CT' },
        { propertyName: 'studyDate', operator: '>=', propertyValue: '20260101' },
      ],
      filters: { sourceRefs: [{ sourceType: 'scp', sourceId: 1 }], seriesTypeIds: [2], seriesTagIds: [] },
    });
  });

  it('says what went wrong in words', () => {
    expect(describeFailure(0, '')).toMatch(/cannot reach the Sluice server/);
    expect(describeFailure(401, 'Invalid username or password')).toBe('Wrong user name or password.');
    expect(describeFailure(403, 'Forbidden', 'Deleting')).toBe(
      'Deleting: you are not allowed to do this: it needs an administrator.',
    );
    expect(describeFailure(502, 'cannot connect to host:104', 'Sending')).toContain(
      'cannot connect to host:104',
    );
    expect(describeFailure(500, 'Internal server error')).toMatch(/unexpected error/);
  });
});

import dcmjs from 'dcmjs';
import { describe, expect, it } from 'vitest';
import type { DicomDataset } from '../dicom/header.js';
import {
  attributeProblem,
  compileAttribute,
  compileSeriesTypes,
  keywordOfTag,
  tagOfKeyword,
  type AttributeSpec,
} from './classifier.js';

const { DicomMetaDictionary } = dcmjs.data;

/** A synthetic denaturalized dataset from keyword → value(s). */
function dataset(attributes: Record<string, unknown>): DicomDataset {
  return DicomMetaDictionary.denaturalizeDataset(attributes) as DicomDataset;
}

const tag = (keyword: string) => tagOfKeyword(keyword)!;
const matches = (
  spec: Omit<AttributeSpec, 'tag'> & { keyword: string },
  attributes: Record<string, unknown>,
) => compileAttribute({ ...spec, tag: tag(spec.keyword) })(dataset(attributes));

describe('attribute operators', () => {
  it('equals compares the exact string, multiple values joined with \\ (Slicebox)', () => {
    expect(matches({ keyword: 'Modality', values: 'CT' }, { Modality: 'CT' })).toBe(true);
    expect(matches({ keyword: 'Modality', values: 'ct' }, { Modality: 'CT' })).toBe(false);
    expect(matches({ keyword: 'Modality', operator: 'equals', values: 'C' }, { Modality: 'CT' })).toBe(false);
    const imageType = { ImageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'] };
    expect(matches({ keyword: 'ImageType', values: 'ORIGINAL\\PRIMARY\\AXIAL' }, imageType)).toBe(true);
    expect(matches({ keyword: 'ImageType', values: 'ORIGINAL' }, imageType)).toBe(false);
  });

  it('contains, starts_with and regex work on the joined value', () => {
    const imageType = { ImageType: ['DERIVED', 'SECONDARY', 'MPR'] };
    expect(matches({ keyword: 'ImageType', operator: 'contains', values: 'SECONDARY' }, imageType)).toBe(
      true,
    );
    expect(matches({ keyword: 'ImageType', operator: 'contains', values: 'LOCALIZER' }, imageType)).toBe(
      false,
    );
    expect(matches({ keyword: 'ImageType', operator: 'starts_with', values: 'DERIVED\\' }, imageType)).toBe(
      true,
    );
    expect(matches({ keyword: 'ImageType', operator: 'starts_with', values: 'SECONDARY' }, imageType)).toBe(
      false,
    );
    const t1 = { SeriesDescription: 'Ax T1 FLAIR post' };
    expect(matches({ keyword: 'SeriesDescription', operator: 'regex', values: '\\bT1\\b' }, t1)).toBe(true);
    expect(matches({ keyword: 'SeriesDescription', operator: 'regex', values: 't1' }, t1)).toBe(false);
    expect(matches({ keyword: 'SeriesDescription', operator: 'regex', values: 't1', flags: 'i' }, t1)).toBe(
      true,
    );
    expect(
      matches({ keyword: 'ImageType', operator: 'regex', values: '^DERIVED\\\\.*MPR$' }, imageType),
    ).toBe(true);
  });

  it('< and > compare numbers when both sides are numbers, else strings; any of several values', () => {
    const thin = { SliceThickness: '1.25' };
    expect(matches({ keyword: 'SliceThickness', operator: '<', values: '2' }, thin)).toBe(true);
    expect(matches({ keyword: 'SliceThickness', operator: '>', values: '2' }, thin)).toBe(false);
    // Numerically 10 > 9, though '10' < '9' as strings.
    expect(matches({ keyword: 'SliceThickness', operator: '<', values: '9' }, { SliceThickness: '10' })).toBe(
      false,
    );
    expect(
      matches({ keyword: 'StudyDate', operator: '>', values: '20200101' }, { StudyDate: '20240301' }),
    ).toBe(true);
    expect(matches({ keyword: 'Modality', operator: '<', values: 'MR' }, { Modality: 'CT' })).toBe(true);
    const spacing = { PixelSpacing: ['0.5', '3'] };
    expect(matches({ keyword: 'PixelSpacing', operator: '<', values: '1' }, spacing)).toBe(true);
    expect(matches({ keyword: 'PixelSpacing', operator: '>', values: '5' }, spacing)).toBe(false);
  });

  it('range is inclusive and numeric', () => {
    const at = (v: string) =>
      matches({ keyword: 'SliceThickness', operator: 'range', values: '1,3' }, { SliceThickness: v });
    expect([at('0.99'), at('1'), at('2.5'), at('3'), at('3.01'), at('thick')]).toEqual([
      false,
      true,
      true,
      true,
      false,
      false,
    ]);
    expect(
      matches({ keyword: 'PixelSpacing', operator: 'range', values: '2,4' }, { PixelSpacing: ['0.5', '3'] }),
    ).toBe(true);
  });

  it('never matches a missing or empty attribute, whatever the operator', () => {
    for (const operator of ['equals', 'contains', 'starts_with', 'regex', '<', '>'] as const)
      for (const attributes of [{ Modality: 'CT' }, { Modality: 'CT', SliceThickness: '' }])
        expect(
          matches(
            { keyword: 'SliceThickness', operator, values: operator === 'regex' ? '.*' : '' },
            attributes,
          ),
          operator,
        ).toBe(false);
    expect(matches({ keyword: 'SliceThickness', operator: 'range', values: '0,9' }, { Modality: 'CT' })).toBe(
      false,
    );
  });

  it('descends into item 1 of a sequence on tagPath, and falls back to the root without it', () => {
    const seq = tag('ReferencedImageSequence');
    const attrs = {
      Modality: 'CT',
      ReferencedImageSequence: [{ ReferencedSOPClassUID: '1.2.3' }, { ReferencedSOPClassUID: '9' }],
    };
    const uid = tag('ReferencedSOPClassUID');
    expect(compileAttribute({ tag: uid, tagPath: String(seq), values: '1.2.3' })(dataset(attrs))).toBe(true);
    expect(compileAttribute({ tag: uid, tagPath: String(seq), values: '9' })(dataset(attrs))).toBe(false);
    expect(
      compileAttribute({
        tag: tag('Modality'),
        tagPath: String(tag('OtherPatientIDsSequence')),
        values: 'CT',
      })(dataset(attrs)),
    ).toBe(true);
  });

  it('explains attributes that cannot be evaluated', () => {
    expect(attributeProblem({ operator: 'regex', values: '(' })).toMatch(/invalid regular expression/);
    expect(attributeProblem({ operator: 'regex', values: 'a', flags: 'g' })).toMatch(/flags/);
    expect(attributeProblem({ operator: 'equals', values: 'a', flags: 'i' })).toMatch(/regex only/);
    expect(attributeProblem({ operator: 'range', values: '1' })).toMatch(/lo,hi/);
    expect(attributeProblem({ operator: 'range', values: '3,1' })).toMatch(/greater/);
    expect(attributeProblem({ operator: 'range', values: '1,3' })).toBeUndefined();
    expect(() => compileAttribute({ tag: 1, operator: 'regex', values: '[' })).toThrow(/regular expression/);
  });

  it('maps keywords and tags both ways', () => {
    expect(tagOfKeyword('SliceThickness')).toBe(0x00180050);
    expect(tagOfKeyword('NoSuchKeyword')).toBeUndefined();
    expect(keywordOfTag(0x00080060)).toBe('Modality');
    expect(keywordOfTag(0x00091001)).toBe('');
  });
});

describe('compileSeriesTypes', () => {
  const ct = { id: 1, name: 'CT', rules: [{ attributes: [{ tag: tag('Modality'), values: 'CT' }] }] };
  const thin = {
    id: 2,
    name: 'thin',
    rules: [
      { attributes: [{ tag: tag('Modality'), values: 'MR' }] },
      {
        attributes: [
          { tag: tag('Modality'), values: 'CT' },
          { tag: tag('SliceThickness'), operator: '<' as const, values: '2' },
        ],
      },
    ],
  };
  const everything = { id: 3, name: 'all', rules: [{ attributes: [] }] };
  const nothing = { id: 4, name: 'none', rules: [] };
  const classify = compileSeriesTypes([ct, thin, everything, nothing]);

  it('applies a type when any rule matches, a rule when all its attributes match', () => {
    expect(classify({ dataset: dataset({ Modality: 'CT', SliceThickness: '1' }) })).toEqual([1, 2, 3]);
    expect(classify({ dataset: dataset({ Modality: 'CT', SliceThickness: '5' }) })).toEqual([1, 3]);
    expect(classify({ dataset: dataset({ Modality: 'CT' }) })).toEqual([1, 3]);
    expect(classify({ dataset: dataset({ Modality: 'MR', SliceThickness: '5' }) })).toEqual([2, 3]);
  });
});

import dcmjs from 'dcmjs';
import { describe, expect, it } from 'vitest';
import { applyTagFilters, type CompiledTagFilter } from './filter.js';
import { parseHeader } from './header.js';
import { datasetOffset } from './part10.js';
import { parseTagTree } from './tag-path.js';
import { IMPLICIT_VR_LE, makeInstance } from '../../test/fixtures/dicom-fixtures.js';

const filter = (type: 'WHITELIST' | 'BLACKLIST', ...paths: string[]): CompiledTagFilter => ({
  name: type.toLowerCase(),
  type,
  trees: paths.map(parseTagTree),
});

const refs = {
  ReferencedImageSequence: [
    { ReferencedSOPClassUID: '1.2.3', ReferencedSOPInstanceUID: '1.2.3.1' },
    { ReferencedSOPClassUID: '1.2.3', ReferencedSOPInstanceUID: '1.2.3.2' },
  ],
  OtherPatientIDsSequence: [{ PatientID: 'OTHER1', IssuerOfPatientID: 'X' }],
};

const instance = (transferSyntaxUid?: string) =>
  makeInstance({ transferSyntaxUid, extra: { ...refs, InstitutionName: 'Somewhere' } });

const ds = (bytes: Buffer) => parseHeader(bytes).dataset;
/** Item headers before the pixel data: dcmjs drops empty items when it reads, so they are counted here. */
const itemCount = (bytes: Buffer) => {
  const pixelData = parseHeader(bytes).pixelDataOffset;
  const end = pixelData < 0 ? bytes.length : pixelData;
  let n = 0;
  for (let i = bytes.indexOf(ITEM_TAG); i >= 0 && i < end; i = bytes.indexOf(ITEM_TAG, i + 1)) n++;
  return n;
};
const ITEM_TAG = Buffer.from([0xfe, 0xff, 0x00, 0xe0]);

describe.each([
  ['explicit VR', undefined],
  ['implicit VR', IMPLICIT_VR_LE],
])('applyTagFilters (%s)', (_name, ts) => {
  it('does nothing without filters', () => {
    expect(applyTagFilters(instance(ts), [])).toBeUndefined();
  });

  it('blacklists top-level attributes, a whole sequence, and a multi-valued attribute whole', () => {
    const out = applyTagFilters(instance(ts), [
      filter('BLACKLIST', 'InstitutionName', 'OtherPatientIDsSequence', 'ImageType', 'PatientAge'),
    ])!;
    const d = ds(out.bytes);
    expect(d['00080080']).toBeUndefined();
    expect(d['00101002']).toBeUndefined();
    expect(d['00080008']).toBeUndefined();
    expect(d['00081140'].Value).toHaveLength(2);
    expect(out.header.dataset['00100010']).toBeDefined();
  });

  it('blacklists inside sequence items: one item, or every item with *', () => {
    const one = ds(applyTagFilters(instance(ts), [filter('BLACKLIST', '(0008,1140)[2].(0008,1155)')])!.bytes);
    const items = one['00081140'].Value as Array<Record<string, { Value: unknown[] }>>;
    expect(items[0]['00081155'].Value).toEqual(['1.2.3.1']);
    expect(items[1]['00081155']).toBeUndefined();
    expect(items[1]['00081150'].Value).toEqual(['1.2.3']);
    const all = ds(
      applyTagFilters(instance(ts), [
        filter('BLACKLIST', 'ReferencedImageSequence[*].ReferencedSOPInstanceUID'),
      ])!.bytes,
    );
    for (const item of all['00081140'].Value as Array<Record<string, unknown>>)
      expect(item['00081155']).toBeUndefined();
  });

  it('whitelists: keeps listed trees and always the attributes the index needs, pixel data bit for bit', () => {
    const original = instance(ts);
    const out = applyTagFilters(original, [
      filter('WHITELIST', 'StudyDescription', 'ReferencedImageSequence[1].ReferencedSOPInstanceUID'),
    ])!;
    const d = ds(out.bytes);
    expect(Object.keys(d).sort()).toEqual(
      [
        '00080005',
        '00080016',
        '00080018',
        '00080060',
        '00081030',
        '00081140',
        '00100010',
        '00100020',
        '0020000D',
        '0020000E',
        '00280002',
        '00280004',
        '00280010',
        '00280011',
        '00280100',
        '00280101',
        '00280102',
        '00280103',
      ].sort(),
    );
    const items = d['00081140'].Value as Array<Record<string, unknown>>;
    expect(items.map((i) => Object.keys(i))).toEqual([['00081155']]);
    // The second item stays, empty, so item numbers do not shift.
    expect(itemCount(out.bytes)).toBe(2);
    const pixels = (b: Buffer) => b.subarray(parseHeader(b).pixelDataOffset);
    expect(pixels(out.bytes).equals(pixels(original))).toBe(true);
    // The file meta information is untouched.
    const metaEnd = datasetOffset(original);
    expect(out.bytes.subarray(0, metaEnd).equals(original.subarray(0, metaEnd))).toBe(true);
  });

  it('applies the blacklists first, then the whitelists; missing attributes are no error', () => {
    const d = ds(
      applyTagFilters(instance(ts), [
        filter('WHITELIST', 'ReferencedImageSequence', 'PatientAge', 'InstitutionName'),
        filter('BLACKLIST', 'InstitutionName', '(0008,1140)[*].(0008,1150)', 'ContrastBolusAgent'),
      ])!.bytes,
    );
    expect(d['00080080']).toBeUndefined();
    const items = d['00081140'].Value as Array<Record<string, unknown>>;
    expect(items.map((i) => Object.keys(i))).toEqual([['00081155'], ['00081155']]);
    expect(d['00101000']).toBeUndefined();
  });

  it('a tree ending at an item covers the item: whitelist keeps it whole, blacklist removes it', () => {
    const kept = applyTagFilters(instance(ts), [filter('WHITELIST', 'ReferencedImageSequence[2]')])!.bytes;
    const keptItems = ds(kept)['00081140'].Value as Array<Record<string, { Value: unknown[] }>>;
    expect(keptItems.map((i) => i['00081155'].Value)).toEqual([['1.2.3.2']]);
    expect(itemCount(kept)).toBe(2);
    const removed = ds(
      applyTagFilters(instance(ts), [filter('BLACKLIST', 'ReferencedImageSequence[1]')])!.bytes,
    );
    expect((removed['00081140'].Value as unknown[]).length).toBe(1);
  });
});

describe('applyTagFilters on private sequences', () => {
  /** A private sequence (unknown to the dictionary) with two items, written in implicit VR. */
  const withPrivateSequence = () => {
    const base = parseHeader(instance(IMPLICIT_VR_LE));
    const dict = new dcmjs.data.DicomDict(base.meta);
    dict.dict = {
      ...base.dataset,
      '00090010': { vr: 'LO', Value: ['SLUICE TEST'] },
      '00091010': {
        vr: 'SQ',
        Value: [
          { '00091011': { vr: 'LO', Value: ['SECRET1'] } },
          { '00091011': { vr: 'LO', Value: ['SECRET2'] } },
        ],
      },
    };
    return Buffer.from(dict.write());
  };

  it('are found in implicit VR data by their items, and filtered inside', () => {
    const file = withPrivateSequence();
    const out = applyTagFilters(file, [filter('BLACKLIST', '(0009,1010)[1].(0009,1011)')])!.bytes;
    expect(file.includes('SECRET1')).toBe(true);
    expect(out.includes('SECRET1')).toBe(false);
    expect(out.includes('SECRET2')).toBe(true);
    expect(itemCount(out)).toBe(itemCount(file));
    expect(itemCount(file)).toBe(5);
  });
});

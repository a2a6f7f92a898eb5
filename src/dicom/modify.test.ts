import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { modifyAttributes, type TagMapping } from './modify.js';
import { parseHeader, type DicomDataset } from './header.js';
import { datasetOffset } from './part10.js';
import { TransferSyntax } from './transfer-syntax.js';
import { parseTagTree } from './tag-path.js';
import { IMPLICIT_VR_LE, makeInstance } from '../../test/fixtures/dicom-fixtures.js';

const map = (path: string, value: string): TagMapping => ({ tree: parseTagTree(path), value });

const instance = (transferSyntaxUid?: string, extra: Record<string, unknown> = {}) =>
  makeInstance({
    transferSyntaxUid,
    sopInstanceUid: '1.2.826.0.1.3680043.10.1337.99.1',
    extra: {
      ReferencedImageSequence: [
        { ReferencedSOPClassUID: '1.2.3', ReferencedSOPInstanceUID: '1.2.3.1' },
        { ReferencedSOPClassUID: '1.2.3', ReferencedSOPInstanceUID: '1.2.3.2' },
      ],
      InstitutionName: 'Somewhere',
      ...extra,
    },
  });

const items = (d: DicomDataset, tag: string) => d[tag].Value as DicomDataset[];
/** The bytes from the pixel data element on: the part a modification must never touch. */
const pixels = (bytes: Buffer) => bytes.subarray(parseHeader(bytes).pixelDataOffset);

describe.each([
  ['explicit VR little endian', undefined],
  ['implicit VR little endian', IMPLICIT_VR_LE],
  ['explicit VR big endian', TransferSyntax.ExplicitVRBigEndian],
])('modifyAttributes (%s)', (_name, ts) => {
  it('replaces top-level values, one inside a sequence item, and keeps the rest and the pixels', () => {
    const file = instance(ts);
    const { bytes, header } = modifyAttributes(file, [
      map('PatientName', 'Renamed^Patient'),
      map('InstitutionName', 'Elsewhere Hospital'),
      map('ReferencedImageSequence[2].ReferencedSOPInstanceUID', '1.2.3.22'),
      map('Rows', '64'),
    ]);
    const d = header.dataset;
    expect((d['00100010'].Value as Array<{ Alphabetic: string }>)[0].Alphabetic).toBe('Renamed^Patient');
    expect(d['00080080'].Value).toEqual(['Elsewhere Hospital']);
    const refs = items(d, '00081140');
    expect(refs[0]['00081155'].Value).toEqual(['1.2.3.1']);
    expect(refs[1]['00081155'].Value).toEqual(['1.2.3.22']);
    expect(refs[1]['00081150'].Value).toEqual(['1.2.3']);
    expect(d['00100020'].Value).toEqual(['TEST001']);
    expect(header.transferSyntaxUid).toBe(ts ?? TransferSyntax.ExplicitVRLittleEndian);
    expect(pixels(bytes).equals(pixels(file))).toBe(true);
  });

  it('inserts missing attributes in tag order, at the top and inside an item', () => {
    const { header } = modifyAttributes(instance(ts), [
      map('AccessionNumber', 'ACC42'),
      map('ReferencedImageSequence[1].ReferencedFrameNumber', '3'),
      map('PatientWeight', '71.5'),
    ]);
    const d = header.dataset;
    expect(d['00080050'].Value).toEqual(['ACC42']);
    expect(d['00101030'].Value).toEqual([71.5]);
    expect(items(d, '00081140')[0]['00081160'].Value).toEqual([3]);
    const tags = Object.keys(d);
    expect([...tags].sort()).toEqual(tags);
  });

  it('writes binary VRs in the file byte order', () => {
    const { header } = modifyAttributes(instance(ts), [map('Columns', '64'), map('BitsStored', '16')]);
    expect(header.dataset['00280011'].Value).toEqual([64]);
    expect(header.dataset['00280101'].Value).toEqual([16]);
  });
});

describe('modifyAttributes', () => {
  it('keeps the file meta in step when SOPInstanceUID changes', () => {
    const { bytes, header } = modifyAttributes(instance(), [map('SOPInstanceUID', '1.2.3.4.5')]);
    expect(header.sopInstanceUid).toBe('1.2.3.4.5');
    expect(header.meta['00020003'].Value).toEqual(['1.2.3.4.5']);
    expect(bytes.readUInt32LE(140)).toBe(bytes.indexOf(Buffer.from([0x08, 0x00, 0x05, 0x00])) - 144);
  });

  it('rewrites deflated files and deflates them again', () => {
    const plain = instance();
    const start = datasetOffset(plain);
    const meta = Buffer.from(plain.subarray(0, start));
    const from = meta.indexOf(TransferSyntax.ExplicitVRLittleEndian + '\0');
    // Same length as the explicit UID plus padding? No: rebuild with the meta helper instead.
    expect(from).toBeGreaterThan(0);
    const deflatedMeta = Buffer.concat([
      meta.subarray(0, from - 2),
      lengthPrefixed(TransferSyntax.DeflatedExplicitVRLittleEndian),
      meta.subarray(from + TransferSyntax.ExplicitVRLittleEndian.length + 1),
    ]);
    deflatedMeta.writeUInt32LE(deflatedMeta.length - 144, 140);
    const file = Buffer.concat([deflatedMeta, deflateRawSync(plain.subarray(start))]);
    expect(parseHeader(file).transferSyntaxUid).toBe(TransferSyntax.DeflatedExplicitVRLittleEndian);
    const { header } = modifyAttributes(file, [map('PatientID', 'DEFL1')]);
    expect(header.transferSyntaxUid).toBe(TransferSyntax.DeflatedExplicitVRLittleEndian);
    expect(header.dataset['00100020'].Value).toEqual(['DEFL1']);
  });

  it('writes UTF-8 into an ISO_IR 192 file and refuses what the file charset cannot hold', () => {
    const utf8 = instance(undefined, { SpecificCharacterSet: 'ISO_IR 192' });
    const { header } = modifyAttributes(utf8, [map('InstitutionName', 'Hôpital 東京')]);
    expect(header.dataset['00080080'].Value).toEqual(['Hôpital 東京']);
    const latin1 = instance(); // ISO_IR 100
    expect(
      modifyAttributes(latin1, [map('InstitutionName', 'Hôpital')]).header.dataset['00080080'].Value,
    ).toEqual(['Hôpital']);
    expect(() => modifyAttributes(latin1, [map('InstitutionName', '東京')])).toThrow(/ISO_IR 100/);
  });

  it('drops retired group lengths of the dataset', () => {
    const { header } = modifyAttributes(instance(undefined, { 0x00080000: undefined }), [
      map('PatientID', 'X'),
    ]);
    expect(Object.keys(header.dataset).filter((t) => t.endsWith('0000'))).toEqual([]);
  });

  const bad: Array<[string, TagMapping[], RegExp]> = [
    ['a bad date', [map('StudyDate', 'tomorrow')], /\(0008,0020\).*not a valid DA/],
    ['a bad UID', [map('SOPInstanceUID', '1.02.3')], /not a valid UID/],
    ['a too long CS', [map('Modality', 'ABCDEFGHIJKLMNOPQ')], /at most 16/],
    ['lower case CS', [map('Modality', 'ct')], /not a valid CS/],
    ['a too long PN group', [map('PatientName', `${'A'.repeat(60)}^${'B'.repeat(10)}`)], /component group/],
    ['an US out of range', [map('Rows', '70000')], /out of range/],
    [
      'a path into a missing item',
      [map('ReferencedImageSequence[3].ReferencedSOPInstanceUID', '1.2')],
      /has 2 items/,
    ],
    ['a path into a missing sequence', [map('OtherPatientIDsSequence[1].PatientID', 'X')], /does not exist/],
    ['a path into a non-sequence', [map('PatientName[1].PatientID', 'X')], /not a sequence/],
    ['a value for a sequence', [map('ReferencedImageSequence', 'X')], /is a sequence/],
    ['a wildcard item', [map('ReferencedImageSequence[*].ReferencedSOPInstanceUID', '1.2')], /one item/],
    ['the file meta', [map('TransferSyntaxUID', '1.2.840.10008.1.2')], /file meta/],
    ['pixel data', [map('PixelData', 'x')], /pixel data/],
    ['a group length', [map('(0008,0000)', '4')], /group lengths/],
    ['a binary VR', [map('(0028,1201)', '1')], /VR OW/],
    ['the same path twice', [map('PatientID', 'A'), map('PatientID', 'B')], /twice/],
    ['a non-storage SOP class', [map('SOPClassUID', '1.2.840.10008.1.1')], /would not be accepted/],
    ['nothing', [], /no tag mappings/],
  ];
  it.each(bad)('refuses %s with a 400', (_name, mappings, message) => {
    let error: unknown;
    try {
      modifyAttributes(instance(), mappings);
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ httpStatus: 400 });
    expect((error as Error).message).toMatch(message);
  });
});

function lengthPrefixed(uid: string): Buffer {
  const value = Buffer.from(uid.length % 2 ? uid + '\0' : uid, 'latin1');
  const head = Buffer.alloc(2);
  head.writeUInt16LE(value.length, 0);
  return Buffer.concat([head, value]);
}

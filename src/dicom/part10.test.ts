import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { InvalidDicomError } from '../errors.js';
import { encodeElement, EXPLICIT_LITTLE } from './encode.js';
import {
  buildFileMeta,
  datasetOffset,
  IMPLEMENTATION_CLASS_UID,
  metaAsExplicit,
  metaStrings,
  PART10_HEAD_LENGTH,
  splitPart10,
} from './part10.js';
import { TransferSyntax } from './transfer-syntax.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const fileMeta = (transferSyntaxUid: string) =>
  buildFileMeta({ sopClassUid: CT, sopInstanceUid: '1.2.3.4', transferSyntaxUid, sourceAeTitle: 'MODALITY' });
const dataset = encodeElement(0x00100020, 'LO', Buffer.from('P1', 'latin1'), EXPLICIT_LITTLE);

describe('datasetOffset', () => {
  it('finds the dataset from the first bytes of a file alone', () => {
    const meta = fileMeta(TransferSyntax.ExplicitVRLittleEndian);
    const file = Buffer.concat([meta, dataset]);
    expect(datasetOffset(file.subarray(0, PART10_HEAD_LENGTH))).toBe(meta.length);
    expect(datasetOffset(file, file.length)).toBe(meta.length);
  });

  it('refuses what is not Part-10, a meta without group length, and absurd lengths', () => {
    const meta = fileMeta(TransferSyntax.ExplicitVRLittleEndian);
    expect(() => datasetOffset(Buffer.alloc(200))).toThrow(/no "DICM" prefix/);
    expect(() => datasetOffset(meta.subarray(0, 100))).toThrow(InvalidDicomError);
    const noGroupLength = Buffer.from(meta);
    noGroupLength.writeUInt16LE(0x0001, 134);
    expect(() => datasetOffset(noGroupLength)).toThrow(/missing its group length/);
    const absurd = Buffer.from(meta);
    absurd.writeUInt32LE(1 << 20, 140);
    expect(() => datasetOffset(absurd)).toThrow(/absurd length/);
    expect(() => datasetOffset(meta, meta.length - 1)).toThrow(/absurd length/);
  });
});

describe('splitPart10', () => {
  it('splits meta and dataset and says how the dataset is encoded', () => {
    const meta = fileMeta(TransferSyntax.ExplicitVRBigEndian);
    const part = splitPart10(Buffer.concat([meta, dataset]), TransferSyntax.ExplicitVRBigEndian);
    expect(part).toMatchObject({
      datasetStart: meta.length,
      deflated: false,
      explicit: true,
      littleEndian: false,
    });
    expect(part.meta).toEqual(meta);
    expect(part.dataset).toEqual(dataset);
    expect(splitPart10(Buffer.concat([meta, dataset]), TransferSyntax.ImplicitVRLittleEndian)).toMatchObject({
      explicit: false,
      littleEndian: true,
    });
  });

  it('inflates a deflated dataset, and refuses one that does not inflate', () => {
    const ts = TransferSyntax.DeflatedExplicitVRLittleEndian;
    const file = Buffer.concat([fileMeta(ts), deflateRawSync(dataset)]);
    expect(splitPart10(file, ts)).toMatchObject({ deflated: true, explicit: true, littleEndian: true });
    expect(splitPart10(file, ts).dataset).toEqual(dataset);
    const broken = Buffer.concat([fileMeta(ts), Buffer.from([0xff, 0xff, 0xff])]);
    expect(() => splitPart10(broken, ts)).toThrow(/deflated dataset cannot be inflated/);
  });
});

describe('file meta', () => {
  it('buildFileMeta writes a group length that covers the group, and metaStrings reads it back', () => {
    const meta = fileMeta(TransferSyntax.JpegBaseline);
    expect(meta.readUInt32LE(PART10_HEAD_LENGTH - 4)).toBe(meta.length - PART10_HEAD_LENGTH);
    const values = metaStrings(meta);
    expect(values.get(0x0002)).toBe(CT);
    expect(values.get(0x0003)).toBe('1.2.3.4');
    expect(values.get(0x0010)).toBe(TransferSyntax.JpegBaseline);
    expect(values.get(0x0012)).toBe(IMPLEMENTATION_CLASS_UID);
    expect(values.get(0x0016)).toBe('MODALITY');
  });

  it('metaAsExplicit rewrites a deflated transfer syntax and its lengths, and leaves others alone', () => {
    const deflated = fileMeta(TransferSyntax.DeflatedExplicitVRLittleEndian);
    const explicit = metaAsExplicit(deflated);
    expect(metaStrings(explicit).get(0x0010)).toBe(TransferSyntax.ExplicitVRLittleEndian);
    expect(metaStrings(explicit).get(0x0012)).toBe(IMPLEMENTATION_CLASS_UID);
    expect(datasetOffset(explicit, explicit.length)).toBe(explicit.length);
    const plain = fileMeta(TransferSyntax.ExplicitVRLittleEndian);
    expect(metaAsExplicit(plain)).toBe(plain);
  });
});

import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { attr, isStorageSopClass, parseHeader } from './header.js';
import { buildFileMeta, datasetOffset } from './part10.js';
import { TransferSyntax } from './transfer-syntax.js';
import { InvalidDicomError, UnsupportedContextError } from '../errors.js';
import {
  makeInstance,
  newUid,
  IMPLICIT_VR_LE,
  CT_IMAGE_STORAGE,
} from '../../test/fixtures/dicom-fixtures.js';

const datasetOf = (f: Buffer) => f.subarray(datasetOffset(f));
const withMeta = (transferSyntaxUid: string, dataset: Buffer, sopInstanceUid = newUid()) =>
  Buffer.concat([
    buildFileMeta({ sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid, transferSyntaxUid }),
    dataset,
  ]);

/** The header of an explicit LE instance followed by an encapsulated pixel data element. */
function encapsulated(fragment: Buffer, closed = true): Buffer {
  const f = makeInstance({ patientId: 'ENC' });
  const pd = f.indexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00]));
  const head = Buffer.from(datasetOf(f.subarray(0, pd)));
  const el = Buffer.alloc(12);
  el.writeUInt16LE(0x7fe0, 0);
  el.writeUInt16LE(0x0010, 2);
  el.write('OB', 4, 'latin1');
  el.writeUInt32LE(0xffffffff, 8);
  const item = (len: number) => {
    const b = Buffer.alloc(8);
    b.writeUInt16LE(0xfffe, 0);
    b.writeUInt16LE(0xe000, 2);
    b.writeUInt32LE(len, 4);
    return b;
  };
  const delim = Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
  return withMeta(
    TransferSyntax.JpegBaseline,
    Buffer.concat([head, el, item(0), item(fragment.length), fragment, ...(closed ? [delim] : [])]),
  );
}

describe('parseHeader', () => {
  it('reads explicit VR little endian up to the pixel data', () => {
    const f = makeInstance({ patientName: 'Doe^Jane', patientId: 'P1', rows: 32, columns: 32 });
    const h = parseHeader(f);
    expect(h.transferSyntaxUid).toBe(TransferSyntax.ExplicitVRLittleEndian);
    expect(attr(h, 'PatientName')).toBe('Doe^Jane');
    expect(attr(h, 'ImageType')).toBe('ORIGINAL\\PRIMARY\\AXIAL');
    expect(h.dataset['7FE00010']).toBeUndefined();
    expect(h.pixelDataOffset).toBe(f.length - 32 * 32 * 2 - 12);
  });

  it('reads implicit VR little endian', () => {
    const h = parseHeader(makeInstance({ transferSyntaxUid: IMPLICIT_VR_LE, patientId: 'IMPL' }));
    expect(attr(h, 'PatientID')).toBe('IMPL');
  });

  it('reads deflated explicit VR little endian', () => {
    const f = makeInstance({ patientId: 'DEFL' });
    const h = parseHeader(
      withMeta(TransferSyntax.DeflatedExplicitVRLittleEndian, deflateRawSync(datasetOf(f))),
    );
    expect(attr(h, 'PatientID')).toBe('DEFL');
    expect(h.transferSyntaxUid).toBe(TransferSyntax.DeflatedExplicitVRLittleEndian);
  });

  it('reads encapsulated pixel data and checks its fragments', () => {
    expect(attr(parseHeader(encapsulated(Buffer.from([0xff, 0xd8, 0xff, 0xd9]))), 'PatientID')).toBe('ENC');
    expect(() => parseHeader(encapsulated(Buffer.from([0xff, 0xd8, 0xff, 0xd9]), false))).toThrow(
      /truncated/,
    );
  });

  it('refuses what is not DICOM', () => {
    expect(() => parseHeader(Buffer.from('just some text'.repeat(30)))).toThrow(InvalidDicomError);
    expect(() => parseHeader(Buffer.alloc(0))).toThrow(/DICM/);
  });

  it('refuses a file without file meta information', () => {
    const f = makeInstance();
    expect(() => parseHeader(Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), datasetOf(f)]))).toThrow(
      /file meta information/,
    );
  });

  it.each([200, 400, 1000, 5000])('refuses a file truncated to %i bytes', (n) => {
    expect(() => parseHeader(makeInstance().subarray(0, n))).toThrow(InvalidDicomError);
  });

  it('refuses a file truncated inside the pixel data, naming the element', () => {
    const f = makeInstance({ rows: 64, columns: 64 });
    expect(() => parseHeader(f.subarray(0, f.length - 100))).toThrow(
      /\(7fe0,0010\) declares 8192 bytes but only 8092 remain/,
    );
  });

  it('refuses absurd element lengths', () => {
    const f = Buffer.from(makeInstance());
    const at = f.indexOf(Buffer.from([0x10, 0x00, 0x20, 0x00, 0x4c, 0x4f])); // (0010,0020) LO
    f.writeUInt16LE(0xfff0, at + 6);
    expect(() => parseHeader(f)).toThrow(InvalidDicomError);
  });

  it('refuses unsupported transfer syntaxes and SOP classes', () => {
    expect(() => parseHeader(withMeta('1.2.840.10008.1.2.4.100', datasetOf(makeInstance())))).toThrow(
      UnsupportedContextError,
    );
    expect(() => parseHeader(makeInstance({ sopClassUid: '1.2.840.10008.1.1' }))).toThrow(
      /not a storage SOP class/,
    );
  });

  it('refuses an invalid SOP Instance UID', () => {
    expect(() => parseHeader(makeInstance({ sopInstanceUid: '1.02.x' }))).toThrow(/not a valid UID/);
  });
});

describe('storage SOP classes', () => {
  it('accepts storage classes and private ones, refuses other standard classes', () => {
    expect(isStorageSopClass(CT_IMAGE_STORAGE)).toBe(true);
    expect(isStorageSopClass('1.2.840.10008.5.1.4.1.1.88.22')).toBe(true);
    expect(isStorageSopClass('1.3.12.2.1107.5.9.1')).toBe(true);
    expect(isStorageSopClass('1.2.840.10008.1.1')).toBe(false);
    // Query and retrieve classes, which share the storage arc.
    expect(isStorageSopClass('1.2.840.10008.5.1.4.1.2.2.1')).toBe(false);
    expect(isStorageSopClass('1.2.840.10008.5.1.4.1.2.4.3')).toBe(false);
    expect(isStorageSopClass('1.2.840.10008.5.1.4.31')).toBe(false);
    expect(isStorageSopClass('1.2.840.10008.5.1.4.38.2')).toBe(false);
    expect(isStorageSopClass('1.2.840.10008.5.1.4.38.1')).toBe(true); // Hanging Protocol Storage
    expect(isStorageSopClass('1.2.840.10008.5.1.4.1.1.2')).toBe(true);
    expect(isStorageSopClass('')).toBe(false);
  });
});

describe('buildFileMeta', () => {
  it('writes a meta group DCMTK and dcmjs read back', () => {
    const sop = newUid();
    const f = withMeta(
      TransferSyntax.ExplicitVRLittleEndian,
      datasetOf(makeInstance({ sopInstanceUid: sop })),
      sop,
    );
    const h = parseHeader(f);
    expect(h.sopInstanceUid).toBe(sop);
    expect(h.meta['00020013'].Value?.[0]).toBe('SLUICE_0_1');
  });
});

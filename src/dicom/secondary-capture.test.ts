import { describe, expect, it } from 'vitest';
import { parseHeader, attr } from './header.js';
import { TransferSyntax } from './transfer-syntax.js';
import { readJpegInfo } from './jpeg.js';
import { SECONDARY_CAPTURE_IMAGE_STORAGE, secondaryCaptureFromJpeg } from './secondary-capture.js';
import type { Patient, Study } from '../storage/metadata-index.js';

const v = (value: string) => ({ value });
const patient: Patient = {
  id: 3,
  patientName: v('Jpeg^Jörg'),
  patientID: v('JPG1'),
  patientBirthDate: v('19800102'),
  patientSex: v('M'),
};
const study: Study = {
  id: 4,
  patientId: 3,
  studyInstanceUID: v('1.2.826.0.1.3680043.10.1337.7'),
  studyDescription: v('Photos'),
  studyDate: v('20260303'),
  studyID: v('S7'),
  accessionNumber: v('ACC7'),
  patientAge: v('046Y'),
};
// A 3×2 baseline frame; the bytes after SOS stand in for entropy-coded data (odd length on purpose).
const jpeg = Uint8Array.from([
  0xff, 0xd8, 0xff, 0xc0, 0, 17, 8, 0, 2, 0, 3, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xff, 0xda, 0, 12, 3,
  1, 0, 2, 0x11, 3, 0x11, 0, 63, 0, 0x55, 0x66, 0xff, 0xd9,
]);

describe('secondaryCaptureFromJpeg', () => {
  const sc = secondaryCaptureFromJpeg({
    jpeg,
    info: readJpegInfo(jpeg),
    patient,
    study,
    seriesDescription: 'From a camera',
    seriesNumber: 2,
    studyTime: '101500',
    now: new Date(Date.UTC(2026, 10, 28, 9, 8, 7)),
  });
  const header = parseHeader(sc.bytes);

  it('is a Secondary Capture in JPEG Baseline with patient and study from the index', () => {
    expect(header.sopClassUid).toBe(SECONDARY_CAPTURE_IMAGE_STORAGE);
    expect(header.transferSyntaxUid).toBe(TransferSyntax.JpegBaseline);
    expect(header.sopInstanceUid).toBe(sc.sopInstanceUid);
    expect(header.meta['00020003'].Value).toEqual([sc.sopInstanceUid]);
    const values = Object.fromEntries(
      [
        'PatientName',
        'PatientID',
        'PatientBirthDate',
        'PatientSex',
        'PatientAge',
        'StudyInstanceUID',
        'StudyDate',
        'StudyTime',
        'StudyID',
        'AccessionNumber',
        'StudyDescription',
        'SeriesDescription',
        'SeriesNumber',
        'SeriesInstanceUID',
        'Modality',
        'ConversionType',
        'Rows',
        'Columns',
        'SamplesPerPixel',
        'PhotometricInterpretation',
        'PlanarConfiguration',
        'BitsAllocated',
        'LossyImageCompression',
        'SpecificCharacterSet',
        'ContentDate',
        'ContentTime',
      ].map((k) => [k, attr(header, k)]),
    );
    expect(values).toEqual({
      PatientName: 'Jpeg^Jörg',
      PatientID: 'JPG1',
      PatientBirthDate: '19800102',
      PatientSex: 'M',
      PatientAge: '046Y',
      StudyInstanceUID: study.studyInstanceUID.value,
      StudyDate: '20260303',
      StudyTime: '101500',
      StudyID: 'S7',
      AccessionNumber: 'ACC7',
      StudyDescription: 'Photos',
      SeriesDescription: 'From a camera',
      SeriesNumber: '2',
      SeriesInstanceUID: sc.seriesInstanceUid,
      Modality: 'OT',
      ConversionType: 'WSD',
      Rows: '2',
      Columns: '3',
      SamplesPerPixel: '3',
      PhotometricInterpretation: 'YBR_FULL_422',
      PlanarConfiguration: '0',
      BitsAllocated: '8',
      LossyImageCompression: '01',
      SpecificCharacterSet: 'ISO_IR 192',
      ContentDate: '20261128',
      ContentTime: '090807',
    });
  });

  it('carries the JPEG as one fragment after an empty offset table, padded to even length', () => {
    const pixelData = sc.bytes.subarray(header.pixelDataOffset);
    expect(pixelData.readUInt32LE(8)).toBe(0xffffffff);
    expect(pixelData.readUInt32LE(12)).toBe(0xe000fffe);
    expect(pixelData.readUInt32LE(16)).toBe(0);
    expect(pixelData.readUInt32LE(24)).toBe(jpeg.length + 1);
    expect(pixelData.subarray(28, 28 + jpeg.length).equals(Buffer.from(jpeg))).toBe(true);
    expect(pixelData[28 + jpeg.length]).toBe(0);
    expect(pixelData.readUInt32LE(28 + jpeg.length + 1)).toBe(0xe0ddfffe);
    expect(pixelData.length).toBe(28 + jpeg.length + 1 + 8);
  });

  it('gives every instance and series new UIDs', () => {
    const again = secondaryCaptureFromJpeg({
      jpeg,
      info: readJpegInfo(jpeg),
      patient,
      study,
      seriesDescription: '',
      seriesNumber: 1,
      now: new Date(),
    });
    expect(again.sopInstanceUid).not.toBe(sc.sopInstanceUid);
    expect(again.seriesInstanceUid).not.toBe(sc.seriesInstanceUid);
  });
});

/**
 * Wraps a baseline JPEG into a Secondary Capture Image (PS3.3 A.8.1): the JPEG bytes become the one
 * fragment of encapsulated pixel data, untouched, under the JPEG Baseline transfer syntax; patient and study
 * come from what the index holds; the instance starts a new series.
 */
import { randomUUID } from 'node:crypto';
import { buildFileMeta } from './part10.js';
import { TransferSyntax } from './transfer-syntax.js';
import { elementHeader, encodeElement, EXPLICIT_LITTLE, itemHeader } from './encode.js';
import { ITEM, PIXEL_DATA, SEQUENCE_END, UNDEFINED_LENGTH } from './vr.js';
import { encodeValue, type Charset } from './values.js';
import type { JpegInfo } from './jpeg.js';
import type { Patient, Study } from '../storage/metadata-index.js';

export const SECONDARY_CAPTURE_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.7';

/** A UID in the 2.25 arc, derived from a random UUID. */
export function newUid(): string {
  return `2.25.${BigInt('0x' + randomUUID().replace(/-/g, '')).toString()}`;
}

export interface SecondaryCaptureInput {
  jpeg: Uint8Array;
  info: JpegInfo;
  patient: Patient;
  study: Study;
  seriesDescription: string;
  /** SeriesNumber of the new series (the study's series count plus one). */
  seriesNumber: number;
  /** Study attributes the index does not hold, read from a stored instance of the study when there is one. */
  studyTime?: string;
  referringPhysicianName?: string;
  /** Creation time (DA/TM values are written in UTC). */
  now: Date;
}

export interface SecondaryCapture {
  bytes: Buffer;
  sopInstanceUid: string;
  seriesInstanceUid: string;
}

export function secondaryCaptureFromJpeg(input: SecondaryCaptureInput): SecondaryCapture {
  const { info, patient, study, now } = input;
  const sopInstanceUid = newUid();
  const seriesInstanceUid = newUid();
  const iso = now.toISOString();
  const date = iso.slice(0, 10).replace(/-/g, '');
  const time = iso.slice(11, 19).replace(/:/g, '');
  const colour = info.components === 3;

  // [tag, VR, value]; text from the index was checked when it was indexed and is copied as it is.
  const text: Array<[number, string, string]> = [
    [0x00080008, 'CS', 'DERIVED\\SECONDARY'],
    [0x00080012, 'DA', date],
    [0x00080013, 'TM', time],
    [0x00080016, 'UI', SECONDARY_CAPTURE_IMAGE_STORAGE],
    [0x00080018, 'UI', sopInstanceUid],
    [0x00080020, 'DA', study.studyDate.value],
    [0x00080021, 'DA', date],
    [0x00080023, 'DA', date],
    [0x00080030, 'TM', input.studyTime ?? ''],
    [0x00080031, 'TM', time],
    [0x00080033, 'TM', time],
    [0x00080050, 'SH', study.accessionNumber.value],
    [0x00080060, 'CS', 'OT'],
    [0x00080064, 'CS', 'WSD'],
    [0x00080070, 'LO', ''],
    [0x00080090, 'PN', input.referringPhysicianName ?? ''],
    [0x00081030, 'LO', study.studyDescription.value],
    [0x0008103e, 'LO', input.seriesDescription],
    [0x00100010, 'PN', patient.patientName.value],
    [0x00100020, 'LO', patient.patientID.value],
    [0x00100030, 'DA', patient.patientBirthDate.value],
    [0x00100040, 'CS', patient.patientSex.value],
    ...(study.patientAge.value
      ? [[0x00101010, 'AS', study.patientAge.value] as [number, string, string]]
      : []),
    [0x00181012, 'DA', date],
    [0x00181014, 'TM', time],
    [0x0020000d, 'UI', study.studyInstanceUID.value],
    [0x0020000e, 'UI', seriesInstanceUid],
    [0x00200010, 'SH', study.studyID.value],
    [0x00200011, 'IS', String(input.seriesNumber)],
    [0x00200013, 'IS', '1'],
    [0x00200020, 'CS', ''],
    // Type 2C: dciodvfy wants it present unless the body part is known to be unpaired, which a JPEG does
    // not tell; empty means unknown (it warns that empty is only for "actually unknown").
    [0x00200060, 'CS', ''],
    [0x00280002, 'US', String(info.components)],
    [0x00280004, 'CS', info.photometricInterpretation],
    ...(colour ? [[0x00280006, 'US', '0'] as [number, string, string]] : []),
    [0x00280010, 'US', String(info.rows)],
    [0x00280011, 'US', String(info.columns)],
    [0x00280100, 'US', '8'],
    [0x00280101, 'US', '8'],
    [0x00280102, 'US', '7'],
    [0x00280103, 'US', '0'],
    [0x00282110, 'CS', '01'],
    [0x00282114, 'CS', 'ISO_10918_1'],
  ];
  const nonAscii = text.some(([, , v]) => /[^\x00-\x7f]/.test(v));
  const charset: Charset = nonAscii ? 'utf8' : 'ascii';
  if (nonAscii) text.push([0x00080005, 'CS', 'ISO_IR 192']);
  text.sort((a, b) => a[0] - b[0]);

  const elements = text.map(([tag, vr, value]) =>
    encodeElement(
      tag,
      vr,
      encodeValue(vr, value, { charset, syntax: EXPLICIT_LITTLE, what: 'secondary capture', check: false }),
      EXPLICIT_LITTLE,
    ),
  );
  const meta = buildFileMeta({
    sopClassUid: SECONDARY_CAPTURE_IMAGE_STORAGE,
    sopInstanceUid,
    transferSyntaxUid: TransferSyntax.JpegBaseline,
  });
  return {
    bytes: Buffer.concat([meta, ...elements, encapsulatedPixelData(input.jpeg)]),
    sopInstanceUid,
    seriesInstanceUid,
  };
}

/** (7FE0,0010) OB of undefined length: an empty basic offset table, one fragment, the delimiter. */
function encapsulatedPixelData(jpeg: Uint8Array): Buffer {
  // Fragments have even length; a zero after EOI is the usual padding.
  const padded = jpeg.length % 2 ? Buffer.concat([jpeg, Buffer.alloc(1)]) : Buffer.from(jpeg);
  return Buffer.concat([
    elementHeader(PIXEL_DATA, 'OB', UNDEFINED_LENGTH, EXPLICIT_LITTLE),
    itemHeader(ITEM, 0, true), // an empty basic offset table
    itemHeader(ITEM, padded.length, true),
    padded,
    itemHeader(SEQUENCE_END, 0, true),
  ]);
}

/**
 * Value representations and the tags that frame sequences (PS3.5 7.1, 7.5): the tables every byte-level
 * reader and writer of a dataset shares.
 */
import dcmjs from 'dcmjs';
import { tagString } from './tag-path.js';

const { DicomMetaDictionary } = dcmjs.data;

/** VRs whose explicit VR header has two reserved bytes and a 4-byte length (PS3.5 7.1.2). */
export const LONG_VRS: ReadonlySet<string> = new Set([
  'OB',
  'OD',
  'OF',
  'OL',
  'OV',
  'OW',
  'SQ',
  'SV',
  'UC',
  'UN',
  'UR',
  'UT',
  'UV',
]);

/** Every value representation of PS3.5 6.2: an explicit VR element with any other is not DICOM. */
export const KNOWN_VRS: ReadonlySet<string> = new Set([
  'AE',
  'AS',
  'AT',
  'CS',
  'DA',
  'DS',
  'DT',
  'FD',
  'FL',
  'IS',
  'LO',
  'LT',
  'OB',
  'OD',
  'OF',
  'OL',
  'OV',
  'OW',
  'PN',
  'SH',
  'SL',
  'SQ',
  'SS',
  'ST',
  'SV',
  'TM',
  'UC',
  'UI',
  'UL',
  'UN',
  'UR',
  'US',
  'UT',
  'UV',
]);

/** (FFFE,E000): an item of a sequence, or a fragment of an encapsulated value. */
export const ITEM = 0xfffee000;
/** (FFFE,E00D): ends an item of undefined length. */
export const ITEM_END = 0xfffee00d;
/** (FFFE,E0DD): ends a sequence or an encapsulated value of undefined length. */
export const SEQUENCE_END = 0xfffee0dd;
/** The length of a value that runs up to its delimiter. */
export const UNDEFINED_LENGTH = 0xffffffff;
export const PIXEL_DATA = 0x7fe00010;

const vrByTag = new Map<number, string | undefined>();

/**
 * The VR the dictionary gives a public tag (what implicit VR data does not say). An entry that allows two
 * VRs gives dcmjs's lower-case code for the pair (`xs` for US or SS, `ox` for OB or OW…); private and
 * unknown tags give undefined.
 */
export function dictionaryVr(tag: number): string | undefined {
  if (vrByTag.has(tag)) return vrByTag.get(tag);
  const entry = DicomMetaDictionary.dictionary[tagString(tag)] as { vr?: string } | undefined;
  const vr = entry?.vr ? entry.vr.slice(0, 2) : undefined;
  vrByTag.set(tag, vr);
  return vr;
}

/** The dictionary VR of a tag when there is exactly one; undefined for private, unknown and two-VR entries. */
export function unambiguousDictionaryVr(tag: number): string | undefined {
  const vr = dictionaryVr(tag);
  return vr && /^[A-Z]{2}$/.test(vr) ? vr : undefined;
}

export function isSequenceTag(tag: number): boolean {
  return dictionaryVr(tag) === 'SQ';
}

/**
 * Q/R identifiers (PS3.4 C.4.1.1.3): the dataset of a C-FIND, C-MOVE or C-GET request read into its
 * top-level elements (text decoded in its SpecificCharacterSet), and the identifiers of our responses
 * written in the presentation context's transfer syntax (explicit or implicit VR little endian).
 */
import { Encoder } from '../../dicom/encode.js';
import { dictionaryVr } from '../../dicom/vr.js';
import { DatasetWalker, type RawElement } from '../../dicom/walker.js';
import { syntaxOf, TransferSyntax } from '../../dicom/transfer-syntax.js';

export const SPECIFIC_CHARACTER_SET = 0x00080005;
export const QUERY_RETRIEVE_LEVEL = 0x00080052;
export const RETRIEVE_AE_TITLE = 0x00080054;
export const INSTANCE_AVAILABILITY = 0x00080056;
export const FAILED_SOP_INSTANCE_UID_LIST = 0x00080058;

/** The transfer syntaxes identifiers are read and written in. */
export const IDENTIFIER_SYNTAXES: readonly string[] = [
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ImplicitVRLittleEndian,
];

export interface IdentifierElement {
  tag: number;
  /** From the data in explicit VR, else the dictionary's (UN for private and unknown tags). */
  vr: string;
  /** The value as text (numbers of binary VRs written out, values joined by `\`); '' for sequences. */
  text: string;
  isSequence: boolean;
  /**
   * A sequence whose items hold a key with a value (sequence matching, C.2.2.2.6); false for one of no
   * items or of empty ones (universal matching), and for elements that are no sequence.
   */
  itemKeys: boolean;
}

export interface Identifier {
  elements: IdentifierElement[];
  /** The text encoding of SpecificCharacterSet (UTF-8 for ISO_IR 192, else Latin-1, ASCII's superset). */
  encoding: BufferEncoding;
}

const BINARY: Record<string, { size: number; read: (b: Buffer, o: number) => number }> = {
  US: { size: 2, read: (b, o) => b.readUInt16LE(o) },
  SS: { size: 2, read: (b, o) => b.readInt16LE(o) },
  UL: { size: 4, read: (b, o) => b.readUInt32LE(o) },
  SL: { size: 4, read: (b, o) => b.readInt32LE(o) },
  FL: { size: 4, read: (b, o) => b.readFloatLE(o) },
  FD: { size: 8, read: (b, o) => b.readDoubleLE(o) },
};
const TEXT_VRS = new Set([
  'AE',
  'AS',
  'CS',
  'DA',
  'DS',
  'DT',
  'IS',
  'LO',
  'LT',
  'PN',
  'SH',
  'ST',
  'TM',
  'UC',
  'UI',
  'UR',
  'UT',
]);

export const encodingOf = (specificCharacterSet: string): BufferEncoding =>
  specificCharacterSet.split('\\').some((term) => term.trim() === 'ISO_IR 192') ? 'utf8' : 'latin1';

/** Reads an identifier; throws InvalidDicomError when its bytes do not walk. */
export function parseIdentifier(bytes: Buffer, transferSyntaxUid: string): Identifier {
  const { explicit, littleEndian } = syntaxOf(transferSyntaxUid);
  // A sequence key sent as UN (a private or newer attribute) is walked as the sequence it is.
  const walker = new DatasetWalker(bytes, explicit, littleEndian, {
    requireVr: explicit,
    unknownSequences: true,
  });
  const raw = walker.elements(0, bytes.length, 0).elements;
  const charset = raw.find((e) => e.tag === SPECIFIC_CHARACTER_SET);
  const encoding = charset
    ? encodingOf(bytes.toString('latin1', charset.start + charset.headerLength, charset.end))
    : 'latin1';
  const elements = raw.map((e): IdentifierElement => {
    const vr = explicit ? bytes.toString('latin1', e.start + 4, e.start + 6) : (dictionaryVr(e.tag) ?? 'UN');
    const value = bytes.subarray(e.start + e.headerLength, e.end);
    if (e.items || vr === 'SQ')
      return { tag: e.tag, vr: 'SQ', text: '', isSequence: true, itemKeys: holdsValue(bytes, e) };
    const binary = BINARY[vr];
    let text = '';
    if (binary) {
      const numbers: number[] = [];
      for (let o = 0; o + binary.size <= value.length; o += binary.size) numbers.push(binary.read(value, o));
      text = numbers.join('\\');
    } else if (TEXT_VRS.has(vr)) {
      text = value
        .toString(
          vr === 'UI' || vr === 'AE' || vr === 'CS' || vr === 'DA' || vr === 'TM' ? 'latin1' : encoding,
        )
        .replace(/[\0 ]+$/, '');
      if (vr !== 'LT' && vr !== 'ST' && vr !== 'UT') text = text.replace(/^ +/, '');
    }
    return { tag: e.tag, vr, text, isSequence: false, itemKeys: false };
  });
  return { elements, encoding };
}

/** Whether a sequence's items hold, at any depth, an element with a value other than a lone `*`. */
function holdsValue(bytes: Buffer, sequence: RawElement): boolean {
  return (sequence.items ?? []).some((item) =>
    item.elements.some((e) => {
      if (e.items) return holdsValue(bytes, e);
      const value = bytes.toString('latin1', e.start + e.headerLength, e.end).replace(/[\0 ]+/g, '');
      return value !== '' && value !== '*';
    }),
  );
}

/** One element of a response identifier: text (binary VRs from their numbers), or an empty sequence. */
export interface ResponseElement {
  tag: number;
  vr: string;
  /** undefined: zero length (and for SQ, a sequence of no items). */
  text?: string;
}

/**
 * A response identifier in the context's transfer syntax, elements in tag order, text in UTF-8 with
 * SpecificCharacterSet ISO_IR 192 when any value is not ASCII (the index holds decoded text).
 */
export function encodeIdentifier(elements: ResponseElement[], transferSyntaxUid: string): Buffer {
  const { explicit } = syntaxOf(transferSyntaxUid);
  const encoder = new Encoder(explicit, true);
  const all = [...elements];
  const unicode = all.some((e) => e.text !== undefined && /[^\x00-\x7f]/.test(e.text));
  const charsetIndex = all.findIndex((e) => e.tag === SPECIFIC_CHARACTER_SET);
  if (unicode) {
    const charset = { tag: SPECIFIC_CHARACTER_SET, vr: 'CS', text: 'ISO_IR 192' };
    if (charsetIndex >= 0) all[charsetIndex] = charset;
    else all.push(charset);
  } else if (charsetIndex >= 0) all[charsetIndex] = { tag: SPECIFIC_CHARACTER_SET, vr: 'CS' };
  all.sort((a, b) => a.tag - b.tag);
  return Buffer.concat(
    all.map((e) => {
      const vr = /^[A-Z]{2}$/.test(e.vr) ? e.vr : 'UN';
      if (vr === 'SQ') return encoder.encode(e.tag, 'SQ', Buffer.alloc(0));
      return encoder.encode(e.tag, vr, valueBytes(vr, e.text ?? '', unicode ? 'utf8' : 'latin1'));
    }),
  );
}

function valueBytes(vr: string, text: string, encoding: BufferEncoding): Buffer {
  if (text === '') return Buffer.alloc(0);
  const binary = BINARY[vr];
  if (binary) {
    const numbers = text.split('\\').map(Number).filter(Number.isFinite);
    const out = Buffer.alloc(numbers.length * binary.size);
    numbers.forEach((n, i) => {
      const o = i * binary.size;
      if (vr === 'US') out.writeUInt16LE(n & 0xffff, o);
      else if (vr === 'SS') out.writeInt16LE(n, o);
      else if (vr === 'UL') out.writeUInt32LE(n >>> 0, o);
      else if (vr === 'SL') out.writeInt32LE(n, o);
      else if (vr === 'FL') out.writeFloatLE(n, o);
      else out.writeDoubleLE(n, o);
    });
    return out;
  }
  if (!TEXT_VRS.has(vr)) return Buffer.alloc(0);
  const bytes = Buffer.from(text, encoding);
  return bytes.length % 2 ? Buffer.concat([bytes, Buffer.from(vr === 'UI' ? '\0' : ' ', 'latin1')]) : bytes;
}

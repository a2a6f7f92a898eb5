/**
 * The Part-10 file format around a dataset (PS3.10 7.1): a 128-byte preamble, "DICM", and the file meta
 * group (group 0002, always explicit VR little endian, opened by its group length), then the dataset in the
 * transfer syntax the meta names. Every reader finds the dataset here, and every writer of a file meta group
 * is here.
 */
import { inflateRawSync } from 'node:zlib';
import { InvalidDicomError } from '../errors.js';
import { Encoder } from './encode.js';
import { syntaxOf, TransferSyntax } from './transfer-syntax.js';
import { DatasetWalker, type ElementHeader } from './walker.js';

/** Preamble, "DICM" and the (0002,0000) group length element: what a reader needs to find the dataset. */
export const PART10_HEAD_LENGTH = 144;
const MAX_META_LENGTH = 64 * 1024;

export const IMPLEMENTATION_CLASS_UID = '1.2.826.0.1.3680043.10.1337.2';
export const IMPLEMENTATION_VERSION_NAME = 'SLUICE_0_1';

/**
 * Where the dataset starts, from the first PART10_HEAD_LENGTH bytes of a file (a sender streams the rest
 * from there). With the whole file's length, also checks that the file meta group fits in it.
 */
export function datasetOffset(head: Buffer, fileLength?: number): number {
  if (head.length < PART10_HEAD_LENGTH || head.toString('latin1', 128, 132) !== 'DICM')
    throw new InvalidDicomError('not a DICOM Part-10 file (no "DICM" prefix after the 128-byte preamble)');
  if (
    head.readUInt16LE(132) !== 0x0002 ||
    head.readUInt16LE(134) !== 0x0000 ||
    head.toString('latin1', 136, 138) !== 'UL'
  )
    throw new InvalidDicomError('file meta information is missing its group length (0002,0000)');
  const metaLength = head.readUInt32LE(140);
  const start = PART10_HEAD_LENGTH + metaLength;
  if (metaLength > MAX_META_LENGTH || (fileLength !== undefined && start > fileLength))
    throw new InvalidDicomError(`file meta information declares an absurd length (${metaLength} bytes)`);
  return start;
}

/** A Part-10 file taken apart. */
export interface Part10 {
  /** Preamble, "DICM" and the file meta group, as stored. */
  readonly meta: Buffer;
  /** The dataset's bytes, inflated when the transfer syntax is deflated: always the bytes to walk. */
  readonly dataset: Buffer;
  /** Where the dataset starts in the file (its stored, possibly deflated, bytes). */
  readonly datasetStart: number;
  readonly deflated: boolean;
  readonly explicit: boolean;
  readonly littleEndian: boolean;
}

/** Splits a Part-10 file whose transfer syntax is known (from its parsed header) into meta and dataset. */
export function splitPart10(file: Buffer, transferSyntaxUid: string): Part10 {
  const datasetStart = datasetOffset(file, file.length);
  const deflated = transferSyntaxUid === TransferSyntax.DeflatedExplicitVRLittleEndian;
  const stored = file.subarray(datasetStart);
  let dataset = stored;
  if (deflated)
    try {
      dataset = inflateRawSync(stored);
    } catch (err) {
      throw new InvalidDicomError(`deflated dataset cannot be inflated: ${(err as Error).message}`, {
        cause: err,
      });
    }
  return {
    meta: file.subarray(0, datasetStart),
    dataset,
    datasetStart,
    deflated,
    ...syntaxOf(transferSyntaxUid),
  };
}

/**
 * Builds the 128-byte preamble, "DICM" and a file meta group for a dataset we write (received over the
 * network, de-identified, decompressed…): the dataset's bytes follow it as they are.
 */
export function buildFileMeta(opts: {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  sourceAeTitle?: string;
}): Buffer {
  const encoder = new Encoder(true, true);
  const elements = [
    encoder.encode(0x00020001, 'OB', Buffer.from([0, 1])),
    encoder.encodeText(0x00020002, 'UI', opts.sopClassUid),
    encoder.encodeText(0x00020003, 'UI', opts.sopInstanceUid),
    encoder.encodeText(0x00020010, 'UI', opts.transferSyntaxUid),
    encoder.encodeText(0x00020012, 'UI', IMPLEMENTATION_CLASS_UID),
    encoder.encodeText(0x00020013, 'SH', IMPLEMENTATION_VERSION_NAME),
  ];
  if (opts.sourceAeTitle)
    elements.push(encoder.encodeText(0x00020016, 'AE', opts.sourceAeTitle.trim().slice(0, 16)));
  const body = Buffer.concat(elements);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.length, 0);
  return Buffer.concat([
    Buffer.alloc(128),
    Buffer.from('DICM', 'latin1'),
    encoder.encode(0x00020000, 'UL', groupLength),
    body,
  ]);
}

interface MetaElement {
  element: number;
  /** Offset of the element, of its value, and of the value's end. */
  start: number;
  valueStart: number;
  valueEnd: number;
}

/**
 * The elements of the file meta group after its group length, read without trusting it: the walk ends at
 * the first element that is not in group 0002 or does not fit.
 */
function* metaElements(file: Buffer): Generator<MetaElement> {
  const walker = new DatasetWalker(file, true, true);
  for (let offset = PART10_HEAD_LENGTH; offset + 8 <= file.length;) {
    let header: ElementHeader;
    try {
      header = walker.header(offset);
    } catch {
      return; // a long VR header cut short
    }
    const valueStart = offset + header.headerLength;
    const valueEnd = valueStart + header.length;
    if (header.tag >>> 16 !== 0x0002 || valueEnd > file.length) return;
    yield { element: header.tag & 0xffff, start: offset, valueStart, valueEnd };
    offset = valueEnd;
  }
}

/** The file meta group's values as text, by element number, from the first bytes of a file up to its dataset. */
export function metaStrings(head: Buffer): Map<number, string> {
  const values = new Map<number, string>();
  for (const { element, valueStart, valueEnd } of metaElements(head))
    values.set(element, head.toString('latin1', valueStart, valueEnd).replace(/[\0 ]+$/, ''));
  return values;
}

/**
 * The file meta with a deflated transfer syntax rewritten as explicit VR little endian, or as it is: dcmjs
 * would inflate a dataset that is not there (or already inflated) when the meta says "deflated".
 */
export function metaAsExplicit(meta: Buffer): Buffer {
  for (const { element, start, valueStart, valueEnd } of metaElements(meta)) {
    if (element !== 0x0010) continue;
    const uid = meta.toString('latin1', valueStart, valueEnd).replace(/[\0 ]+$/, '');
    if (uid !== TransferSyntax.DeflatedExplicitVRLittleEndian) return meta;
    const explicit = Buffer.from(TransferSyntax.ExplicitVRLittleEndian + '\0', 'latin1');
    const out = Buffer.concat([meta.subarray(0, valueStart), explicit, meta.subarray(valueEnd)]);
    out.writeUInt16LE(explicit.length, start + 6);
    out.writeUInt32LE(out.length - PART10_HEAD_LENGTH, 140);
    return out;
  }
  return meta;
}

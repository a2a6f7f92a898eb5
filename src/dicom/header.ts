/**
 * Reading just enough of a Part-10 file: a bounds-checked walk of the top-level elements finds where the
 * pixel data starts (and that every declared length fits in the file), then dcmjs parses only the bytes
 * before it. A full dcmjs parse of a 512×512 instance costs about four times as much.
 */
import { open } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import dcmjs from 'dcmjs';
import { InvalidDicomError, UnsupportedContextError } from '../errors.js';
import { ITEM, ITEM_END, LONG_VRS, PIXEL_DATA, SEQUENCE_END, UNDEFINED_LENGTH as UNDEFINED } from './vr.js';

const { DicomMessage, DicomMetaDictionary } = dcmjs.data;
dcmjs.log.setLevel?.('silent');

/** dcmjs "denaturalized" element: tag `GGGGEEEE` → { vr, Value }. */
export interface DicomElement {
  vr: string;
  Value?: unknown[];
}
export type DicomDataset = Record<string, DicomElement>;

export interface DicomHeader {
  /** File meta information (group 0002). */
  readonly meta: DicomDataset;
  /** Dataset attributes before the pixel data. */
  readonly dataset: DicomDataset;
  readonly transferSyntaxUid: string;
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  /** Byte offset of (7FE0,0010) in the file, or -1 when the object has no pixel data. */
  readonly pixelDataOffset: number;
}

export const TransferSyntax = {
  ImplicitVRLittleEndian: '1.2.840.10008.1.2',
  ExplicitVRLittleEndian: '1.2.840.10008.1.2.1',
  DeflatedExplicitVRLittleEndian: '1.2.840.10008.1.2.1.99',
  ExplicitVRBigEndian: '1.2.840.10008.1.2.2',
  JpegBaseline: '1.2.840.10008.1.2.4.50',
  JpegExtended: '1.2.840.10008.1.2.4.51',
  JpegLossless: '1.2.840.10008.1.2.4.57',
  JpegLosslessSV1: '1.2.840.10008.1.2.4.70',
  JpegLsLossless: '1.2.840.10008.1.2.4.80',
  JpegLsNearLossless: '1.2.840.10008.1.2.4.81',
  Jpeg2000Lossless: '1.2.840.10008.1.2.4.90',
  Jpeg2000: '1.2.840.10008.1.2.4.91',
  RleLossless: '1.2.840.10008.1.2.5',
} as const;

/** Transfer syntaxes we receive and store as they are. */
export const ACCEPTED_TRANSFER_SYNTAXES: readonly string[] = Object.values(TransferSyntax);

/**
 * Storage SOP classes: everything under the standard's storage arcs (1.2.840.10008.5.1.4.x, which holds
 * 5.1.4.1.1.* image and document storage and the RT, waveform and other storage classes), plus private
 * classes (any other well-formed UID outside the standard's 1.2.840.10008 root). Verification, query and
 * other non-storage standard classes are refused.
 */
export function isStorageSopClass(uid: string): boolean {
  if (!isValidUid(uid)) return false;
  if (uid.startsWith('1.2.840.10008.')) return uid.startsWith('1.2.840.10008.5.1.4.');
  return true;
}

export function isValidUid(uid: string): boolean {
  return uid.length > 0 && uid.length <= 64 && /^(0|[1-9]\d*)(\.(0|[1-9]\d*))*$/.test(uid);
}

/** Throws UnsupportedContextError when the SOP class or transfer syntax is not accepted. */
export function checkContext(sopClassUid: string, transferSyntaxUid: string): void {
  if (!isStorageSopClass(sopClassUid))
    throw new UnsupportedContextError(`SOP class ${sopClassUid || '(empty)'} is not a storage SOP class`);
  if (!ACCEPTED_TRANSFER_SYNTAXES.includes(transferSyntaxUid))
    throw new UnsupportedContextError(`transfer syntax ${transferSyntaxUid || '(empty)'} is not supported`);
}

export interface WalkResult {
  pixelDataOffset: number;
}

/**
 * Walks the top-level elements of a dataset from `start`, checking every declared length against the
 * buffer. Returns the offset of the pixel data element, or -1 when the dataset ends without one.
 */
export function walkDataset(
  buf: Buffer,
  start: number,
  explicit: boolean,
  littleEndian: boolean,
): WalkResult {
  const u16 = (o: number) => (littleEndian ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number) => (littleEndian ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const need = (offset: number, n: number, what: string) => {
    if (offset + n > buf.length)
      throw new InvalidDicomError(
        `truncated: ${what} at byte ${offset} needs ${n} bytes, only ${buf.length - offset} remain`,
      );
  };
  const tagName = (t: number) =>
    `(${(t >>> 16).toString(16).padStart(4, '0')},${(t & 0xffff).toString(16).padStart(4, '0')})`;

  // Skips an undefined-length value (sequence or encapsulated pixel data) up to its sequence delimiter.
  const skipUndefined = (offset: number, depth: number): number => {
    if (depth > 64) throw new InvalidDicomError('sequences nested deeper than 64 levels');
    for (;;) {
      need(offset, 8, 'item header');
      const tag = ((u16(offset) << 16) | u16(offset + 2)) >>> 0;
      const len = u32(offset + 4);
      offset += 8;
      if (tag === SEQUENCE_END) return offset;
      if (tag !== ITEM) throw new InvalidDicomError(`unexpected ${tagName(tag)} inside a sequence`);
      if (len === UNDEFINED) offset = skipItem(offset, depth + 1);
      else {
        need(offset, len, 'item value');
        offset += len;
      }
    }
  };
  // Skips the elements of an undefined-length item up to its item delimiter.
  const skipItem = (offset: number, depth: number): number => {
    for (;;) {
      need(offset, 8, 'element header');
      const tag = ((u16(offset) << 16) | u16(offset + 2)) >>> 0;
      if (tag === ITEM_END) return offset + 8;
      offset = skipElement(offset, tag, depth).next;
    }
  };
  const skipElement = (offset: number, tag: number, depth: number): { next: number; length: number } => {
    let len: number;
    let valueStart: number;
    const vr = explicit ? buf.toString('latin1', offset + 4, offset + 6) : '';
    if (explicit && /^[A-Z]{2}$/.test(vr)) {
      if (LONG_VRS.has(vr)) {
        need(offset, 12, `element ${tagName(tag)} header`);
        len = u32(offset + 8);
        valueStart = offset + 12;
      } else {
        len = u16(offset + 6);
        valueStart = offset + 8;
      }
    } else {
      if (explicit && tag >>> 16 !== 0xfffe)
        throw new InvalidDicomError(`element ${tagName(tag)} has no valid VR`);
      len = u32(offset + 4);
      valueStart = offset + 8;
    }
    if (len === UNDEFINED) return { next: skipUndefined(valueStart, depth), length: -1 };
    if (len > buf.length - valueStart)
      throw new InvalidDicomError(
        `element ${tagName(tag)} declares ${len} bytes but only ${buf.length - valueStart} remain (truncated or corrupt)`,
      );
    return { next: valueStart + len, length: len };
  };

  let offset = start;
  while (offset < buf.length) {
    need(offset, 8, 'element header');
    const tag = ((u16(offset) << 16) | u16(offset + 2)) >>> 0;
    const { next } = skipElement(offset, tag, 0);
    if (tag === PIXEL_DATA) return { pixelDataOffset: offset };
    offset = next;
  }
  return { pixelDataOffset: -1 };
}

const MAX_META_LENGTH = 64 * 1024;

/**
 * Parses a Part-10 file held in memory. Throws InvalidDicomError with a precise reason for non-DICOM,
 * truncated or corrupt input.
 */
export function parseHeader(buf: Buffer): DicomHeader {
  if (buf.length < 132 + 12 || buf.toString('latin1', 128, 132) !== 'DICM')
    throw new InvalidDicomError('not a DICOM Part-10 file (no "DICM" prefix after the 128-byte preamble)');
  // Meta group: explicit VR little endian, starts with (0002,0000) group length.
  if (
    buf.readUInt16LE(132) !== 0x0002 ||
    buf.readUInt16LE(134) !== 0x0000 ||
    buf.toString('latin1', 136, 138) !== 'UL'
  )
    throw new InvalidDicomError('file meta information is missing its group length (0002,0000)');
  const metaLength = buf.readUInt32LE(140);
  const datasetStart = 144 + metaLength;
  if (metaLength > MAX_META_LENGTH || datasetStart > buf.length)
    throw new InvalidDicomError(`file meta information declares an absurd length (${metaLength} bytes)`);

  let meta: DicomDataset;
  try {
    // dcmjs would inflate the (absent) dataset of a deflated file: read the meta as explicit, then restore.
    const metaBytes = rewriteMetaAsExplicit(buf.subarray(0, datasetStart));
    meta = DicomMessage.readFile(toArrayBuffer(metaBytes), { ignoreErrors: false }).meta as DicomDataset;
    if (metaBytes.length !== datasetStart)
      meta['00020010'] = { vr: 'UI', Value: [TransferSyntax.DeflatedExplicitVRLittleEndian] };
  } catch (err) {
    throw new InvalidDicomError(`unreadable file meta information: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const transferSyntaxUid = firstString(meta['00020010']);
  if (!transferSyntaxUid) throw new InvalidDicomError('file meta information has no TransferSyntaxUID');
  if (!ACCEPTED_TRANSFER_SYNTAXES.includes(transferSyntaxUid))
    throw new UnsupportedContextError(`transfer syntax ${transferSyntaxUid} is not supported`);

  let headerBytes: Buffer;
  let pixelDataOffset = -1;
  if (transferSyntaxUid === TransferSyntax.DeflatedExplicitVRLittleEndian) {
    let inflated: Buffer;
    try {
      inflated = inflateRawSync(buf.subarray(datasetStart));
    } catch (err) {
      throw new InvalidDicomError(`deflated dataset cannot be inflated: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const walk = walkDataset(inflated, 0, true, true);
    const end = walk.pixelDataOffset < 0 ? inflated.length : walk.pixelDataOffset;
    headerBytes = Buffer.concat([
      rewriteMetaAsExplicit(buf.subarray(0, datasetStart)),
      inflated.subarray(0, end),
    ]);
  } else {
    const explicit = transferSyntaxUid !== TransferSyntax.ImplicitVRLittleEndian;
    const littleEndian = transferSyntaxUid !== TransferSyntax.ExplicitVRBigEndian;
    pixelDataOffset = walkDataset(buf, datasetStart, explicit, littleEndian).pixelDataOffset;
    headerBytes = buf.subarray(0, pixelDataOffset < 0 ? buf.length : pixelDataOffset);
  }

  let dataset: DicomDataset;
  try {
    dataset = DicomMessage.readFile(toArrayBuffer(headerBytes), { ignoreErrors: false }).dict as DicomDataset;
  } catch (err) {
    throw new InvalidDicomError(`unreadable dataset: ${(err as Error).message}`, { cause: err });
  }
  const sopClassUid = firstString(dataset['00080016']) || firstString(meta['00020002']);
  const sopInstanceUid = firstString(dataset['00080018']) || firstString(meta['00020003']);
  if (!sopInstanceUid) throw new InvalidDicomError('no SOPInstanceUID');
  if (!isValidUid(sopInstanceUid))
    throw new InvalidDicomError(`SOPInstanceUID "${sopInstanceUid}" is not a valid UID`);
  checkContext(sopClassUid, transferSyntaxUid);
  return { meta, dataset, transferSyntaxUid, sopClassUid, sopInstanceUid, pixelDataOffset };
}

/** The deflated meta says "deflated"; dcmjs would try to inflate our already inflated bytes. */
function rewriteMetaAsExplicit(metaBytes: Buffer): Buffer {
  let offset = 144;
  while (offset + 8 <= metaBytes.length) {
    const group = metaBytes.readUInt16LE(offset);
    const element = metaBytes.readUInt16LE(offset + 2);
    const vr = metaBytes.toString('latin1', offset + 4, offset + 6);
    const long = LONG_VRS.has(vr);
    const len = long ? metaBytes.readUInt32LE(offset + 8) : metaBytes.readUInt16LE(offset + 6);
    const valueStart = offset + (long ? 12 : 8);
    if (group !== 0x0002 || valueStart + len > metaBytes.length) return metaBytes;
    if (element === 0x0010) {
      const uid = metaBytes.toString('latin1', valueStart, valueStart + len).replace(/[\0 ]+$/, '');
      if (uid !== TransferSyntax.DeflatedExplicitVRLittleEndian) return metaBytes;
      const explicit = Buffer.from(TransferSyntax.ExplicitVRLittleEndian + '\0', 'latin1');
      const out = Buffer.concat([
        metaBytes.subarray(0, valueStart),
        explicit,
        metaBytes.subarray(valueStart + len),
      ]);
      out.writeUInt16LE(explicit.length, offset + 6);
      out.writeUInt32LE(out.length - 144, 140);
      return out;
    }
    offset = valueStart + len;
  }
  return metaBytes;
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
}

/** Largest file we read whole to check it; bigger files are walked from their first MAX_WHOLE bytes. */
const MAX_WHOLE = 256 * 1024 * 1024;

/** Reads and checks the header of a Part-10 file on disk. */
export async function readHeader(path: string): Promise<DicomHeader> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size > MAX_WHOLE) throw new InvalidDicomError(`file is larger than ${MAX_WHOLE} bytes`);
    const buf = Buffer.allocUnsafe(size);
    let read = 0;
    while (read < size) {
      const { bytesRead } = await handle.read(buf, read, size - read, read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return parseHeader(buf.subarray(0, read));
  } finally {
    await handle.close();
  }
}

function firstString(el: DicomElement | undefined): string {
  const v = el?.Value?.[0];
  if (v === undefined || v === null) return '';
  if (typeof v === 'object' && v !== null && 'Alphabetic' in v)
    return String((v as { Alphabetic: string }).Alphabetic ?? '');
  return String(v).trim();
}

/** A keyword's value as Slicebox stores it: multi-valued strings joined with `\`, missing → ''. */
export function attr(header: Pick<DicomHeader, 'dataset'>, keyword: string): string {
  const tag = DicomMetaDictionary.nameMap[keyword]?.tag as string | undefined;
  if (!tag) throw new Error(`unknown keyword ${keyword}`);
  const el = header.dataset[tag.replace(/[(),]/g, '').toUpperCase()];
  if (!el?.Value?.length) return '';
  return el.Value.map((v) =>
    typeof v === 'object' && v !== null && 'Alphabetic' in v
      ? String((v as { Alphabetic: string }).Alphabetic)
      : String(v),
  )
    .join('\\')
    .trim();
}

/**
 * Builds the 128-byte preamble, "DICM" and a file meta group for a dataset received over the network
 * (the SCP writes this, then the dataset bytes exactly as received).
 */
export function buildFileMeta(opts: {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  sourceAeTitle?: string;
}): Buffer {
  const elements: Buffer[] = [];
  const el = (group: number, element: number, vr: string, value: Buffer) => {
    const long = LONG_VRS.has(vr);
    const head = Buffer.alloc(long ? 12 : 8);
    head.writeUInt16LE(group, 0);
    head.writeUInt16LE(element, 2);
    head.write(vr, 4, 'latin1');
    if (long) head.writeUInt32LE(value.length, 8);
    else head.writeUInt16LE(value.length, 6);
    elements.push(head, value);
  };
  const text = (s: string, pad: string) => {
    const b = Buffer.from(s, 'latin1');
    return b.length % 2 ? Buffer.concat([b, Buffer.from(pad, 'latin1')]) : b;
  };
  el(0x0002, 0x0001, 'OB', Buffer.from([0, 1]));
  el(0x0002, 0x0002, 'UI', text(opts.sopClassUid, '\0'));
  el(0x0002, 0x0003, 'UI', text(opts.sopInstanceUid, '\0'));
  el(0x0002, 0x0010, 'UI', text(opts.transferSyntaxUid, '\0'));
  el(0x0002, 0x0012, 'UI', text(IMPLEMENTATION_CLASS_UID, '\0'));
  el(0x0002, 0x0013, 'SH', text(IMPLEMENTATION_VERSION_NAME, ' '));
  if (opts.sourceAeTitle) el(0x0002, 0x0016, 'AE', text(opts.sourceAeTitle.trim().slice(0, 16), ' '));
  const body = Buffer.concat(elements);
  const groupLength = Buffer.alloc(12);
  groupLength.writeUInt16LE(0x0002, 0);
  groupLength.writeUInt16LE(0x0000, 2);
  groupLength.write('UL', 4, 'latin1');
  groupLength.writeUInt16LE(4, 6);
  groupLength.writeUInt32LE(body.length, 8);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), groupLength, body]);
}

export const IMPLEMENTATION_CLASS_UID = '1.2.826.0.1.3680043.10.1337.2';
export const IMPLEMENTATION_VERSION_NAME = 'SLUICE_0_1';

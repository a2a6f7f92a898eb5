/**
 * Reading just enough of a Part-10 file: a bounds-checked walk of the top-level elements finds where the
 * pixel data starts (and that every declared length fits in the file), then dcmjs parses only the bytes
 * before it. A full dcmjs parse of a 512×512 instance costs about four times as much.
 */
import dcmjs from 'dcmjs';
import { InvalidDicomError, UnsupportedContextError } from '../errors.js';
import { datasetOffset, metaAsExplicit, splitPart10 } from './part10.js';
import { ACCEPTED_TRANSFER_SYNTAXES, TransferSyntax } from './transfer-syntax.js';
import { walkDataset } from './walker.js';

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

/**
 * Storage SOP classes: everything under the standard's storage arcs (1.2.840.10008.5.1.4.x, which holds
 * 5.1.4.1.1.* image and document storage and the RT, waveform and other storage classes), plus private
 * classes (any other well-formed UID outside the standard's 1.2.840.10008 root). Verification, query and
 * other non-storage standard classes are refused.
 */
export function isStorageSopClass(uid: string): boolean {
  if (!isValidUid(uid)) return false;
  if (uid.startsWith('1.2.840.10008.'))
    return uid.startsWith('1.2.840.10008.5.1.4.') && !QUERY_RETRIEVE_FAMILY.test(uid);
  return true;
}

/**
 * The query and retrieve SOP classes among 1.2.840.10008.5.1.4 (PS3.4 C, K, U, V, X and others): Query/Retrieve
 * (…4.1.2.*), Modality Worklist (…4.31), and FIND/MOVE/GET of hanging protocols, color palettes and implant
 * templates. They are no storage: an SCP that does not serve them must refuse their contexts.
 */
const QUERY_RETRIEVE_FAMILY = /^1\.2\.840\.10008\.5\.1\.4\.(1\.2\.|31$|(38|39|43|44|45)\.[234]$)/;

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

/**
 * Parses a Part-10 file held in memory. Throws InvalidDicomError with a precise reason for non-DICOM,
 * truncated or corrupt input.
 */
export function parseHeader(buf: Buffer): DicomHeader {
  const datasetStart = datasetOffset(buf, buf.length);
  // dcmjs would inflate the (absent) dataset of a deflated file: read the meta as explicit, then restore.
  const metaBytes = metaAsExplicit(buf.subarray(0, datasetStart));
  let meta: DicomDataset;
  try {
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
  const part10 = splitPart10(buf, transferSyntaxUid);
  if (part10.deflated) {
    const inflated = part10.dataset;
    const walk = walkDataset(inflated, 0, true, true);
    const end = walk.pixelDataOffset < 0 ? inflated.length : walk.pixelDataOffset;
    headerBytes = Buffer.concat([metaBytes, inflated.subarray(0, end)]);
  } else {
    // Walked in place, so that offsets (the result's, and those in errors) are the file's.
    pixelDataOffset = walkDataset(buf, datasetStart, part10.explicit, part10.littleEndian).pixelDataOffset;
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

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
}

function firstString(el: DicomElement | undefined): string {
  const v = el?.Value?.[0];
  if (v === undefined || v === null) return '';
  if (typeof v === 'object' && v !== null && 'Alphabetic' in v)
    return String((v as { Alphabetic: string }).Alphabetic ?? '');
  return String(v).trim();
}

/**
 * A keyword's value as Slicebox stores it: multi-valued strings joined with `\`, missing → ''. Only text
 * and numbers count: a value that arrived as bytes (an attribute sent with VR UN or OB) gives '', never
 * `[object ArrayBuffer]`.
 */
export function attr(header: Pick<DicomHeader, 'dataset'>, keyword: string): string {
  const tag = DicomMetaDictionary.nameMap[keyword]?.tag as string | undefined;
  if (!tag) throw new Error(`unknown keyword ${keyword}`);
  const el = header.dataset[tag.replace(/[(),]/g, '').toUpperCase()];
  if (!el?.Value?.length) return '';
  const values: string[] = [];
  for (const v of el.Value) {
    if (typeof v === 'string') values.push(v);
    else if (typeof v === 'number' || typeof v === 'bigint') values.push(String(v));
    else if (typeof v === 'object' && v !== null && 'Alphabetic' in v)
      values.push(String((v as { Alphabetic?: unknown }).Alphabetic ?? ''));
    else return '';
  }
  return values.join('\\').trim();
}

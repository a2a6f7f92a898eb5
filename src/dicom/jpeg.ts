/**
 * Reads what DICOM needs to know about a JPEG file from its markers (no decoding): the frame header (SOF)
 * gives rows, columns, components and precision; JFIF and Adobe markers tell RGB from YCbCr.
 */
import { SluiceError } from '../errors.js';

export class InvalidJpegError extends SluiceError {
  constructor(reason: string) {
    super('JPEG.INVALID', `Invalid JPEG: ${reason}`, 400);
  }
}

export interface JpegInfo {
  rows: number;
  columns: number;
  /** 1 (grey) or 3 (colour). */
  components: 1 | 3;
  /** Bits per sample; 8 for baseline. */
  precision: number;
  /** DICOM's name for the colour model of the compressed data. */
  photometricInterpretation: 'MONOCHROME2' | 'RGB' | 'YBR_FULL' | 'YBR_FULL_422';
}

const SOF_NAMES: Record<number, string> = {
  0xc1: 'extended sequential',
  0xc2: 'progressive',
  0xc3: 'lossless',
  0xc5: 'differential sequential',
  0xc6: 'differential progressive',
  0xc7: 'differential lossless',
  0xc9: 'arithmetic sequential',
  0xca: 'arithmetic progressive',
  0xcb: 'arithmetic lossless',
  0xcd: 'arithmetic differential sequential',
  0xce: 'arithmetic differential progressive',
  0xcf: 'arithmetic differential lossless',
};
const isSof = (marker: number) => marker === 0xc0 || marker in SOF_NAMES;

/**
 * The frame of a baseline JPEG (SOF0, 8 bits, 1 or 3 components), the process DICOM's JPEG Baseline
 * transfer syntax carries. Anything else is an InvalidJpegError (HTTP 400) saying why.
 */
export function readJpegInfo(bytes: Uint8Array): JpegInfo {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8)
    throw new InvalidJpegError('no SOI marker (FFD8) at the start');
  let offset = 2;
  let jfif = false;
  let adobeTransform: number | undefined;
  let frame: JpegInfo | undefined;
  for (;;) {
    if (offset + 2 > b.length) throw new InvalidJpegError(`truncated at byte ${offset}`);
    if (b[offset] !== 0xff) throw new InvalidJpegError(`expected a marker at byte ${offset}`);
    // Any number of 0xFF fill bytes may precede a marker.
    while (offset + 1 < b.length && b[offset + 1] === 0xff) offset++;
    const marker = b[offset + 1];
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      offset += 2; // standalone markers: TEM, RSTn
      continue;
    }
    if (marker === 0xd8) throw new InvalidJpegError(`second SOI marker at byte ${offset}`);
    if (marker === 0xd9) throw new InvalidJpegError('image ends (EOI) before any scan');
    if (offset + 4 > b.length) throw new InvalidJpegError(`truncated at byte ${offset}`);
    const length = b.readUInt16BE(offset + 2);
    const segment = offset + 4;
    if (length < 2 || offset + 2 + length > b.length)
      throw new InvalidJpegError(
        `marker FF${hex(marker)} at byte ${offset} declares ${length} bytes, past the end`,
      );
    if (marker === 0xe0 && b.toString('latin1', segment, segment + 5) === 'JFIF\0') jfif = true;
    if (marker === 0xee && length >= 14 && b.toString('latin1', segment, segment + 5) === 'Adobe')
      adobeTransform = b[segment + 11];
    if (isSof(marker)) {
      if (frame) throw new InvalidJpegError('more than one frame header (SOF)');
      if (marker !== 0xc0)
        throw new InvalidJpegError(
          `${SOF_NAMES[marker]} JPEG (SOF${marker - 0xc0}); only baseline JPEG (SOF0) can be wrapped`,
        );
      frame = readFrame(b, segment, length, jfif, adobeTransform);
    }
    if (marker === 0xda) {
      if (!frame) throw new InvalidJpegError('scan (SOS) before the frame header (SOF)');
      // Entropy-coded data follows; a complete image ends with EOI (padding after it is tolerated).
      if (b.lastIndexOf(Buffer.from([0xff, 0xd9])) < segment + length - 2)
        throw new InvalidJpegError('no EOI marker after the scan: the image is truncated');
      return frame;
    }
    offset += 2 + length;
  }
}

function readFrame(
  b: Buffer,
  segment: number,
  length: number,
  jfif: boolean,
  adobeTransform: number | undefined,
): JpegInfo {
  if (length < 8) throw new InvalidJpegError('frame header (SOF0) is too short');
  const precision = b[segment];
  const rows = b.readUInt16BE(segment + 1);
  const columns = b.readUInt16BE(segment + 3);
  const count = b[segment + 5];
  if (length !== 8 + 3 * count)
    throw new InvalidJpegError(`frame header declares ${count} components but is ${length} bytes long`);
  if (precision !== 8) throw new InvalidJpegError(`baseline JPEG has 8-bit samples, this one ${precision}`);
  if (rows === 0) throw new InvalidJpegError('the number of lines is not in the frame header (DNL)');
  if (columns === 0) throw new InvalidJpegError('frame header has zero columns');
  if (count !== 1 && count !== 3)
    throw new InvalidJpegError(`${count} components; only greyscale (1) and colour (3) can be wrapped`);
  if (count === 1)
    return { rows, columns, components: 1, precision, photometricInterpretation: 'MONOCHROME2' };
  const ids = [0, 1, 2].map((i) => b[segment + 6 + 3 * i]);
  const sampling = [0, 1, 2].map((i) => b[segment + 7 + 3 * i]);
  // Adobe's transform 0, or components named R, G, B without JFIF: the samples are RGB, not YCbCr.
  const rgb = adobeTransform === 0 || (!jfif && adobeTransform === undefined && ids.join() === '82,71,66');
  const subsampled = sampling.some((s) => s !== sampling[0]);
  return {
    rows,
    columns,
    components: 3,
    precision,
    photometricInterpretation: rgb ? 'RGB' : subsampled ? 'YBR_FULL_422' : 'YBR_FULL',
  };
}

const hex = (n: number) => n.toString(16).toUpperCase().padStart(2, '0');

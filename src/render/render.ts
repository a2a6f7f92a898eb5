/**
 * Rendering one stored instance: decode a frame (pixels.ts), window it (voi.ts) or convert its colour to
 * RGB, then scale and encode with sharp. Runs inside the render workers (worker.ts), never on the API's
 * event loop.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { BadRequestError, NotFoundError } from '../errors.js';
import { parseHeader } from '../dicom/header.js';
import {
  decodedPhotometric,
  initCodecs,
  needsCodecs,
  pixelSource,
  unsupported,
  type DecodedFrame,
  type PixelModule,
} from './pixels.js';
import { applyWindow, chooseWindow } from './voi.js';

export interface PngRequest {
  path: string;
  /** 1-based frame number, or the middle frame (thumbnails). */
  frame: number | 'middle';
  /** The caller's window in modality units (after Rescale Slope/Intercept); else the file's, else the range. */
  window?: { min: number; max: number };
  /** Output height in pixels, width scaled to keep the aspect ratio; 0 or absent = the image's own. */
  height?: number;
  /** Scales so that the longer side is this many pixels (thumbnails); wins over `height`. */
  box?: number;
}

export interface PngResult {
  png: Uint8Array;
  width: number;
  height: number;
}

/** Slicebox's `ImageInformation`. */
export interface ImageInformation {
  numberOfFrames: number;
  frameIndex: number;
  minimumPixelValue: number;
  maximumPixelValue: number;
}

async function open(path: string) {
  const buf = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new NotFoundError('stored file of the image');
    throw err;
  });
  const source = pixelSource(buf, parseHeader(buf));
  if (needsCodecs(source.transferSyntaxUid)) await initCodecs();
  return source;
}

const MONOCHROME = new Set(['MONOCHROME1', 'MONOCHROME2']);
const COLOUR = new Set(['RGB', 'YBR_FULL', 'YBR_FULL_422']);

export async function renderPng(req: PngRequest): Promise<PngResult> {
  const source = await open(req.path);
  const m = source.module;
  checkRenderable(m, source.transferSyntaxUid);
  const frames = m.numberOfFrames;
  const frameNumber = req.frame === 'middle' ? Math.ceil(frames / 2) : req.frame;
  if (!Number.isInteger(frameNumber) || frameNumber < 1 || frameNumber > frames)
    throw new BadRequestError(
      `framenumber ${frameNumber} is out of range: the image has ${frames} frame${frames === 1 ? '' : 's'}`,
    );
  const frame = source.frame(frameNumber - 1);
  let raw: Uint8Array;
  let channels: 1 | 3;
  if (MONOCHROME.has(m.photometricInterpretation)) {
    raw = grey(frame, m, req.window);
    channels = 1;
  } else if (m.photometricInterpretation === 'PALETTE COLOR') {
    raw = paletteRgb(frame, m);
    channels = 3;
  } else {
    raw = rgb(frame, m);
    channels = 3;
  }
  let image = sharp(raw, { raw: { width: m.columns, height: m.rows, channels } });
  const { width, height } = outputSize(m, req);
  if (height !== m.rows || width !== m.columns)
    image = image.resize({ width, height, fit: 'fill', kernel: 'linear' });
  if (channels === 1) image = image.toColourspace('b-w');
  const png = await image.png({ compressionLevel: 6 }).toBuffer();
  return { png, width, height };
}

/** The output size: the image's own, or scaled to a height or into a square box, aspect ratio kept. */
export function outputSize(
  m: Pick<PixelModule, 'rows' | 'columns'>,
  req: Pick<PngRequest, 'height' | 'box'>,
): { width: number; height: number } {
  const scale = req.box ? req.box / Math.max(m.rows, m.columns) : req.height ? req.height / m.rows : 1;
  if (scale === 1) return { width: m.columns, height: m.rows };
  return {
    width: Math.max(1, Math.round(m.columns * scale)),
    height: Math.max(1, Math.round(m.rows * scale)),
  };
}

export async function imageInformation(path: string): Promise<ImageInformation> {
  const source = await open(path);
  const m = source.module;
  checkRenderable(m, source.transferSyntaxUid);
  let min = Infinity;
  let max = -Infinity;
  for (let f = 0; f < m.numberOfFrames; f++) {
    const frame = source.frame(f);
    const r = MONOCHROME.has(m.photometricInterpretation)
      ? range(modalityValues(frame, m))
      : range(samples(frame, m));
    min = Math.min(min, r.min);
    max = Math.max(max, r.max);
  }
  return {
    numberOfFrames: m.numberOfFrames,
    frameIndex: Math.max(m.instanceNumber, m.imageIndex),
    // Slicebox answers integers; modality values may have fractions (slope 0.5): widen, never narrow.
    minimumPixelValue: Math.floor(min),
    maximumPixelValue: Math.ceil(max),
  };
}

function checkRenderable(m: PixelModule, ts: string): void {
  const pi = decodedPhotometric(m, ts);
  if (MONOCHROME.has(pi)) {
    if (m.samplesPerPixel !== 1)
      throw unsupported(`${pi} with SamplesPerPixel ${m.samplesPerPixel} cannot be rendered`);
    return;
  }
  if (pi === 'PALETTE COLOR') {
    if (m.samplesPerPixel !== 1 || m.bitsAllocated === 1 || m.bitsAllocated > 16)
      throw unsupported(`PALETTE COLOR with ${m.bitsAllocated}-bit samples cannot be rendered`);
    if (!m.palette)
      throw unsupported('PALETTE COLOR without usable lookup tables (segmented palettes are not supported)');
    return;
  }
  if (!COLOUR.has(pi))
    throw unsupported(
      `photometric interpretation ${pi} cannot be rendered (supported: MONOCHROME1, MONOCHROME2, PALETTE COLOR, RGB, YBR_FULL, YBR_FULL_422)`,
    );
  if (m.samplesPerPixel !== 3)
    throw unsupported(`${pi} with SamplesPerPixel ${m.samplesPerPixel} cannot be rendered`);
  if (m.bitsAllocated === 1) throw unsupported(`${pi} with BitsAllocated 1 cannot be rendered`);
}

function range(values: ArrayLike<number>): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/** The windowed 8-bit grey levels of a monochrome frame. */
function grey(frame: DecodedFrame, m: PixelModule, requested: PngRequest['window']): Uint8Array {
  const fileWindow = m.window && { ...m.window, fn: m.voiLutFunction };
  const invert = m.photometricInterpretation === 'MONOCHROME1';
  const pixels = m.rows * m.columns;
  const stored = integerSamples(frame, m);
  if (!stored) {
    const values = modalityValues(frame, m);
    const window = chooseWindow(
      requested,
      fileWindow,
      requested || fileWindow ? { min: 0, max: 0 } : range(values),
    );
    return applyWindow(values, window, invert, new Uint8Array(pixels));
  }
  // Up to 16 bits: window each stored value that occurs once, through a lookup table.
  const { min, max } = range(stored);
  const modality = (v: number) => v * m.rescaleSlope + m.rescaleIntercept;
  const [low, high] = [modality(min), modality(max)].sort((a, b) => a - b);
  const window = chooseWindow(requested, fileWindow, { min: low, max: high });
  const lut = applyWindow(
    Float64Array.from({ length: max - min + 1 }, (_, k) => modality(min + k)),
    window,
    invert,
    new Uint8Array(max - min + 1),
  );
  const out = new Uint8Array(pixels);
  for (let i = 0; i < pixels; i++) out[i] = lut[stored[i] - min];
  return out;
}

/** Stored values of an 8- or 16-bit single-sample frame as integers, or undefined for other layouts. */
function integerSamples(frame: DecodedFrame, m: PixelModule): Int32Array | undefined {
  if (m.samplesPerPixel !== 1 || (m.bitsAllocated !== 8 && m.bitsAllocated !== 16)) return undefined;
  const count = m.rows * m.columns;
  const b = frame.bytes;
  const shift = Math.max(0, m.highBit + 1 - m.bitsStored);
  const mask = 2 ** m.bitsStored - 1;
  const sign = m.pixelRepresentation === 1 ? 2 ** (m.bitsStored - 1) : 0;
  const out = new Int32Array(count);
  if (m.bitsAllocated === 8) {
    for (let i = 0; i < count; i++) out[i] = (b[i] >> shift) & mask;
  } else {
    const aligned = b.byteOffset % 2 === 0 ? b : Uint8Array.from(b);
    const words = new Uint16Array(aligned.buffer, aligned.byteOffset, count);
    for (let i = 0; i < count; i++) out[i] = (words[i] >> shift) & mask;
  }
  if (sign) for (let i = 0; i < count; i++) if (out[i] >= sign) out[i] -= 2 * sign;
  return out;
}

/** Stored sample values of a frame (masked to BitsStored, sign-extended), interleaved as stored. */
export function samples(frame: DecodedFrame, m: PixelModule): Float64Array {
  const count = m.rows * m.columns * m.samplesPerPixel;
  const out = new Float64Array(count);
  const b = frame.bytes;
  if (m.bitsAllocated === 1) {
    for (let i = 0; i < count; i++) {
      const bit = frame.bitOffset + i;
      out[i] = (b[bit >> 3] >> (bit & 7)) & 1;
    }
    return out;
  }
  const shift = Math.max(0, m.highBit + 1 - m.bitsStored);
  const bits = m.bitsStored;
  const signed = m.pixelRepresentation === 1;
  const range = 2 ** bits;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const read =
    m.bitsAllocated === 8
      ? (i: number) => b[i]
      : m.bitsAllocated === 16
        ? (i: number) => view.getUint16(2 * i, true)
        : (i: number) => view.getUint32(4 * i, true);
  for (let i = 0; i < count; i++) {
    let v = (read(i) / 2 ** shift) % range;
    v = Math.floor(v);
    if (signed && v >= range / 2) v -= range;
    out[i] = v;
  }
  return out;
}

/** Modality values (Rescale Slope and Intercept applied) of a single-sample frame. */
export function modalityValues(frame: DecodedFrame, m: PixelModule): Float64Array {
  const out = samples(frame, m);
  if (m.rescaleSlope !== 1 || m.rescaleIntercept !== 0)
    for (let i = 0; i < out.length; i++) out[i] = out[i] * m.rescaleSlope + m.rescaleIntercept;
  return out;
}

/** RGB of a PALETTE COLOR frame: each stored value looked up in the three tables (clamped to their ends). */
function paletteRgb(frame: DecodedFrame, m: PixelModule): Uint8Array {
  const { firstMapped, red, green, blue } = m.palette!;
  const values = samples(frame, m);
  const out = new Uint8Array(values.length * 3);
  const last = red.length - 1;
  for (let i = 0; i < values.length; i++) {
    const k = Math.min(last, Math.max(0, values[i] - firstMapped));
    out[3 * i] = red[k];
    out[3 * i + 1] = green[Math.min(k, green.length - 1)];
    out[3 * i + 2] = blue[Math.min(k, blue.length - 1)];
  }
  return out;
}

/** 8-bit interleaved RGB of a colour frame. */
function rgb(frame: DecodedFrame, m: PixelModule): Uint8Array {
  const pixels = m.rows * m.columns;
  const out = new Uint8Array(pixels * 3);
  const pi = frame.photometricInterpretation;
  if (pi === 'YBR_FULL_422' && !frame.planar) {
    // Uncompressed 4:2:2: Y1 Y2 Cb Cr for each pair of pixels on a row (8-bit only).
    if (m.bitsAllocated !== 8) throw unsupported('YBR_FULL_422 with BitsAllocated > 8 cannot be rendered');
    const b = frame.bytes;
    if (b.length >= pixels * 3) return ybrToRgb(interleaved(frame, m), out);
    for (let p = 0, i = 0; p < pixels; p += 2, i += 4) {
      ybr(b[i], b[i + 2], b[i + 3], out, p * 3);
      if (p + 1 < pixels) ybr(b[i + 1], b[i + 2], b[i + 3], out, (p + 1) * 3);
    }
    return out;
  }
  const values = interleaved(frame, m);
  return pi === 'RGB' ? values : ybrToRgb(values, out);
}

/** The frame's samples as 8-bit, pixel-interleaved (planes merged, more than 8 bits scaled down). */
function interleaved(frame: DecodedFrame, m: PixelModule): Uint8Array {
  const pixels = m.rows * m.columns;
  const s = samples(frame, m);
  const down = 2 ** Math.max(0, m.bitsStored - 8);
  const out = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++)
    for (let c = 0; c < 3; c++) {
      const v = frame.planar ? s[c * pixels + p] : s[p * 3 + c];
      out[p * 3 + c] = Math.min(255, Math.max(0, Math.floor(v / down)));
    }
  return out;
}

function ybrToRgb(values: Uint8Array, out: Uint8Array): Uint8Array {
  for (let i = 0; i < values.length; i += 3) ybr(values[i], values[i + 1], values[i + 2], out, i);
  return out;
}

/** YCbCr (full range, PS3.3 C.7.6.3.1.2) to RGB. */
function ybr(y: number, cb: number, cr: number, out: Uint8Array, at: number): void {
  out[at] = clamp(y + 1.402 * (cr - 128));
  out[at + 1] = clamp(y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128));
  out[at + 2] = clamp(y + 1.772 * (cb - 128));
}
const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

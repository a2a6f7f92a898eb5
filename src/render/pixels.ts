/**
 * From a stored Part-10 file to the bytes of one frame: finds the pixel data (inflating a deflated dataset),
 * splits encapsulated fragments into frames, and decodes them. Output is always little endian and
 * pixel-interleaved, with the file's BitsAllocated (1-bit data stays bit-packed).
 *
 * JPEG (baseline, extended 12-bit, lossless), JPEG-LS and JPEG 2000 go through the WebAssembly codecs that
 * dcmjs-codecs drives (the module ships in dcmjs-imaging's package); RLE is decoded here.
 */
import { createRequire } from 'node:module';
import dcmjsCodecs from 'dcmjs-codecs';
import { InvalidDicomError, SluiceError } from '../errors.js';
import type { DicomDataset, DicomHeader } from '../dicom/header.js';
import { splitPart10 } from '../dicom/part10.js';
import { PIXEL_DATA, UNDEFINED_LENGTH } from '../dicom/vr.js';
import { DatasetWalker, walkDataset, type Fragment } from '../dicom/walker.js';
import { syntaxOf, TransferSyntax } from '../dicom/transfer-syntax.js';
import { decodeRleFrame } from './rle.js';

const { Context, NativeCodecs } = dcmjsCodecs;
dcmjsCodecs.log.setLevel?.('silent');

/** The Image Pixel module and the attributes rendering reads, with DICOM's defaults applied. */
export interface PixelModule {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  pixelRepresentation: number;
  planarConfiguration: number;
  photometricInterpretation: string;
  numberOfFrames: number;
  rescaleSlope: number;
  rescaleIntercept: number;
  /** First WindowCenter/WindowWidth pair, when the file has a usable one (width >= 1). */
  window?: { center: number; width: number };
  voiLutFunction: string;
  instanceNumber: number;
  imageIndex: number;
  /** PALETTE COLOR: the three lookup tables, 8 bits per entry; absent when the file has none we can use. */
  palette?: Palette;
}

/** A palette's red, green and blue tables (8-bit) and the stored value mapped to their first entry. */
export interface Palette {
  firstMapped: number;
  red: Uint8Array;
  green: Uint8Array;
  blue: Uint8Array;
}

export const unsupported = (message: string) => new SluiceError('RENDER.UNSUPPORTED', message, 501);
const corrupt = (message: string) => new SluiceError('RENDER.CORRUPT', message, 501);

function values(ds: DicomDataset, tag: string): unknown[] {
  return ds[tag]?.Value ?? [];
}
/** A numeric attribute's first value; `fallback` when absent or not a number (IS "1A" exists in the wild). */
function num(ds: DicomDataset, tag: string, fallback: number): number;
function num(ds: DicomDataset, tag: string, fallback?: number): number | undefined;
function num(ds: DicomDataset, tag: string, fallback?: number): number | undefined {
  const v = values(ds, tag)[0];
  if (v === undefined || v === null || v === '') return fallback;
  const n = typeof v === 'number' ? v : Number(String(v).trim());
  return Number.isFinite(n) ? n : fallback;
}
function str(ds: DicomDataset, tag: string): string {
  const v = values(ds, tag)[0];
  return v === undefined || v === null ? '' : String(v).trim();
}

export function pixelModule(ds: DicomDataset): PixelModule {
  const rows = num(ds, '00280010', 0);
  const columns = num(ds, '00280011', 0);
  if (rows < 1 || columns < 1) throw unsupported('the image has no Rows or Columns: nothing to render');
  const bitsAllocated = num(ds, '00280100', 0);
  if (![1, 8, 16, 32].includes(bitsAllocated))
    throw unsupported(`BitsAllocated ${bitsAllocated || '(missing)'} cannot be rendered`);
  const bitsStored = Math.min(num(ds, '00280101', bitsAllocated), bitsAllocated);
  const center = num(ds, '00281050');
  const width = num(ds, '00281051');
  return {
    rows,
    columns,
    samplesPerPixel: num(ds, '00280002', 1),
    bitsAllocated,
    bitsStored,
    highBit: num(ds, '00280102', bitsStored - 1),
    pixelRepresentation: num(ds, '00280103', 0),
    planarConfiguration: num(ds, '00280006', 0),
    photometricInterpretation: str(ds, '00280004').toUpperCase() || 'MONOCHROME2',
    numberOfFrames: Math.max(1, Math.floor(num(ds, '00280008', 1))),
    rescaleSlope: num(ds, '00281053', 1) || 1,
    rescaleIntercept: num(ds, '00281052', 0),
    window: center !== undefined && width !== undefined && width >= 1 ? { center, width } : undefined,
    voiLutFunction: str(ds, '00281056').toUpperCase() || 'LINEAR',
    instanceNumber: num(ds, '00200013', 0),
    imageIndex: num(ds, '00541330', 0),
    palette: str(ds, '00280004').toUpperCase() === 'PALETTE COLOR' ? palette(ds) : undefined,
  };
}

/** The palette of a PALETTE COLOR image (PS3.3 C.7.6.3.1.5); undefined for segmented or missing tables. */
function palette(ds: DicomDataset): Palette | undefined {
  const table = (descriptorTag: string, dataTag: string) => {
    const [entries0, firstMapped, bits] = values(ds, descriptorTag).map(Number);
    const data = values(ds, dataTag)[0];
    if (!(data instanceof ArrayBuffer) || !Number.isFinite(entries0) || !Number.isFinite(firstMapped))
      return undefined;
    const entries = entries0 === 0 ? 65536 : entries0;
    const bytes = new Uint8Array(data);
    const out = new Uint8Array(entries);
    // 8-bit entries are packed bytes; some writers put them in 16-bit words anyway.
    const wide = bits === 16 || bytes.length >= 2 * entries;
    if (!wide && bytes.length < entries) return undefined;
    if (wide && bytes.length < 2 * entries) return undefined;
    const view = new DataView(data);
    for (let k = 0; k < entries; k++)
      out[k] = !wide
        ? bytes[k]
        : bits === 16
          ? view.getUint16(2 * k, true) >> 8
          : view.getUint16(2 * k, true) & 0xff;
    return { firstMapped, out };
  };
  const red = table('00281101', '00281201');
  const green = table('00281102', '00281202');
  const blue = table('00281103', '00281203');
  if (!red || !green || !blue) return undefined;
  return { firstMapped: red.firstMapped, red: red.out, green: green.out, blue: blue.out };
}

/** Where the pixel data is and how to read it. */
interface PixelDataSource {
  /** Native (uncompressed) value, or undefined when encapsulated. */
  native?: Uint8Array;
  vr: string;
  littleEndian: boolean;
  /** Encapsulated: the Basic Offset Table and the fragments in order. */
  offsets?: number[];
  fragments?: Uint8Array[];
}

function locatePixelData(buf: Buffer, header: DicomHeader): PixelDataSource {
  const ts = header.transferSyntaxUid;
  let bytes: Buffer = buf;
  let offset = header.pixelDataOffset;
  if (ts === TransferSyntax.DeflatedExplicitVRLittleEndian) {
    bytes = splitPart10(buf, ts).dataset;
    offset = walkDataset(bytes, 0, true, true).pixelDataOffset;
  }
  if (offset < 0) throw unsupported('the image has no pixel data: nothing to render');
  const { explicit, littleEndian } = syntaxOf(ts);
  const walker = new DatasetWalker(bytes, explicit, littleEndian);
  const fragments: Fragment[] = [];
  try {
    const element = walker.header(offset);
    const start = offset + element.headerLength;
    if (element.length !== UNDEFINED_LENGTH) {
      if (start + element.length > bytes.length) throw corrupt('the pixel data is truncated');
      return { native: bytes.subarray(start, start + element.length), vr: element.vr || 'OW', littleEndian };
    }
    // Encapsulated: fragments are read by their lengths, so that delimiter-like bytes inside one do not end it.
    walker.fragments(start, PIXEL_DATA, fragments);
  } catch (err) {
    if (err instanceof InvalidDicomError) throw corrupt(`the pixel data cannot be read: ${err.message}`);
    throw err;
  }
  const items = fragments.map(({ start, end }) => bytes.subarray(start, end));
  if (!items.length) throw corrupt('the encapsulated pixel data has no Basic Offset Table');
  const table = items[0];
  const offsets: number[] = [];
  for (let k = 0; k + 4 <= table.length; k += 4)
    offsets.push(Buffer.from(table.buffer, table.byteOffset, table.byteLength).readUInt32LE(k));
  return { vr: 'OB', littleEndian, offsets, fragments: items.slice(1) };
}

const concat = (parts: Uint8Array[]) => (parts.length === 1 ? parts[0] : Buffer.concat(parts));

/** The compressed bytes of frame `index` (0-based) from the fragments. */
function encapsulatedFrame(src: PixelDataSource, index: number, frames: number, ts: string): Uint8Array {
  const fragments = src.fragments!;
  if (!fragments.length) throw corrupt('the encapsulated pixel data has no fragments');
  if (frames === 1) return concat(fragments);
  const table = src.offsets!;
  if (table.length === frames) {
    // Offsets count from the first fragment's item tag; each item adds an 8-byte header.
    let position = 0;
    const parts: Uint8Array[] = [];
    const end = index + 1 < frames ? table[index + 1] : Infinity;
    for (const fragment of fragments) {
      if (position >= table[index] && position < end) parts.push(fragment);
      position += 8 + fragment.length;
    }
    if (!parts.length)
      throw corrupt(`the Basic Offset Table points past the fragments for frame ${index + 1}`);
    return concat(parts);
  }
  if (fragments.length === frames) return fragments[index];
  // No offset table and more fragments than frames: a new frame starts with a codestream marker.
  const starts = (f: Uint8Array) =>
    ts === TransferSyntax.RleLossless
      ? false
      : (f[0] === 0xff && (f[1] === 0xd8 || f[1] === 0x4f)) || (f[4] === 0x6a && f[5] === 0x50); // SOI, SOC, jP box
  const groups: Uint8Array[][] = [];
  for (const fragment of fragments) {
    if (!groups.length || starts(fragment)) groups.push([fragment]);
    else groups[groups.length - 1].push(fragment);
  }
  if (groups.length !== frames)
    throw corrupt(`cannot tell the ${frames} frames apart in ${fragments.length} fragments`);
  return concat(groups[index]);
}

let codecsReady: Promise<void> | undefined;
/** Loads the WebAssembly codecs once per thread, on first use. */
export function initCodecs(): Promise<void> {
  codecsReady ??= NativeCodecs.initializeAsync({
    webAssemblyModulePathOrUrl: createRequire(import.meta.url).resolve(
      'dcmjs-imaging/build/dcmjs-native-codecs.wasm',
    ),
  });
  return codecsReady;
}

const JPEG = new Set<string>([
  TransferSyntax.JpegBaseline,
  TransferSyntax.JpegExtended,
  TransferSyntax.JpegLossless,
  TransferSyntax.JpegLosslessSV1,
]);
const JPEG_LS = new Set<string>([TransferSyntax.JpegLsLossless, TransferSyntax.JpegLsNearLossless]);
const JPEG_2000 = new Set<string>([TransferSyntax.Jpeg2000Lossless, TransferSyntax.Jpeg2000]);

/** Whether decoding needs the WebAssembly codecs (so the caller can await initCodecs first). */
export function needsCodecs(ts: string): boolean {
  return JPEG.has(ts) || JPEG_LS.has(ts) || JPEG_2000.has(ts);
}

export interface DecodedFrame {
  /** Little endian, pixel-interleaved unless `planar`. */
  bytes: Uint8Array;
  /** Colour planes one after the other (native data with PlanarConfiguration 1). */
  planar: boolean;
  /** The photometric interpretation of `bytes`: decoders turn YBR JPEG and JPEG 2000 into RGB. */
  photometricInterpretation: string;
  /** Bit offset of the frame in `bytes` (1-bit frames need not start on a byte). */
  bitOffset: number;
}

/** A file parsed for rendering: its pixel module and a way to decode any frame. */
export interface PixelSource {
  module: PixelModule;
  transferSyntaxUid: string;
  /** Decodes frame `index` (0-based). Call `initCodecs()` first when `needsCodecs`. */
  frame(index: number): DecodedFrame;
  /** The compressed bytes of frame `index` (0-based); undefined for native pixel data. */
  encodedFrame(index: number): Uint8Array | undefined;
}

/**
 * The photometric interpretation of decoded frames: the JPEG decoder converts YCbCr to RGB when asked, and
 * OpenJPEG applies the multi-component transform of YBR_ICT/YBR_RCT (and the YBR labels GDCM writes).
 */
export function decodedPhotometric(m: PixelModule, ts: string): string {
  const pi = m.photometricInterpretation;
  if (m.samplesPerPixel !== 3) return pi;
  if (JPEG.has(ts) && pi !== 'RGB') return 'RGB';
  if (JPEG_2000.has(ts) && pi.startsWith('YBR')) return 'RGB';
  return pi;
}

export function pixelSource(buf: Buffer, header: DicomHeader): PixelSource {
  const ts = header.transferSyntaxUid;
  const src = locatePixelData(buf, header);
  const module = pixelModule(header.dataset);
  const { rows, columns, samplesPerPixel: spp, bitsAllocated } = module;
  const pixels = rows * columns;
  // Uncompressed 4:2:2 stores two samples per pixel (Y Y Cb Cr for each pair).
  const stored = src.native && module.photometricInterpretation === 'YBR_FULL_422' ? 2 : spp;
  const frameBits = pixels * stored * bitsAllocated;
  const frames = module.numberOfFrames;

  let native = src.native;
  if (native && !src.littleEndian && bitsAllocated > 8 && bitsAllocated % 8 === 0) {
    const swapped = Buffer.from(native);
    if (bitsAllocated === 16) swapped.swap16();
    else swapped.swap32();
    native = swapped;
  } else if (native && !src.littleEndian && bitsAllocated <= 8 && src.vr === 'OW') {
    // Bytes (or packed bits) in a big endian OW value: each word's two bytes come swapped.
    const swapped = Buffer.from(native.subarray(0, native.length - (native.length % 2)));
    native = swapped.swap16();
  }

  return {
    module,
    transferSyntaxUid: ts,
    encodedFrame: (index) => (native ? undefined : encapsulatedFrame(src, index, frames, ts)),
    frame(index) {
      if (native) {
        const bitOffset = index * frameBits;
        if (Math.ceil((bitOffset + frameBits) / 8) > native.length)
          throw corrupt(
            `the pixel data holds ${native.length} bytes, frame ${index + 1} needs ${Math.ceil((bitOffset + frameBits) / 8)}`,
          );
        const byteOffset = Math.floor(bitOffset / 8);
        return {
          bytes: native.subarray(byteOffset, Math.ceil((bitOffset + frameBits) / 8)),
          planar: spp > 1 && module.planarConfiguration === 1,
          photometricInterpretation: module.photometricInterpretation,
          bitOffset: bitOffset % 8,
        };
      }
      const encoded = encapsulatedFrame(src, index, frames, ts);
      if (ts === TransferSyntax.RleLossless)
        return {
          bytes: decodeRleFrame(encoded, pixels, spp, bitsAllocated),
          planar: false,
          photometricInterpretation: module.photometricInterpretation,
          bitOffset: 0,
        };
      return decodeWithCodecs(encoded, module, ts);
    },
  };
}

function decodeWithCodecs(encoded: Uint8Array, module: PixelModule, ts: string): DecodedFrame {
  if (!needsCodecs(ts)) throw unsupported(`transfer syntax ${ts} cannot be rendered`);
  if (!NativeCodecs.isInitialized()) throw new Error('initCodecs() must complete before decoding');
  const pi = module.photometricInterpretation;
  const context = new Context({
    width: module.columns,
    height: module.rows,
    bitsAllocated: module.bitsAllocated,
    bitsStored: module.bitsStored,
    samplesPerPixel: module.samplesPerPixel,
    pixelRepresentation: module.pixelRepresentation,
    planarConfiguration: module.planarConfiguration,
    photometricInterpretation: pi,
    encodedBuffer: encoded,
  });
  const photometricInterpretation = decodedPhotometric(module, ts);
  let decoded: InstanceType<typeof Context>;
  try {
    if (JPEG.has(ts)) {
      // An RGB JPEG must stay untouched (some are stored without a colour transform).
      decoded = NativeCodecs.decodeJpeg(context, {
        convertColorspaceToRgb: photometricInterpretation !== pi,
      });
    } else if (JPEG_LS.has(ts)) {
      decoded = NativeCodecs.decodeJpegLs(context, {});
    } else {
      decoded = NativeCodecs.decodeJpeg2000(context, {});
    }
  } catch (err) {
    throw corrupt(`the ${ts} frame cannot be decoded: ${(err as Error).message.trim()}`);
  }
  const bytes = decoded.getDecodedBuffer();
  const expected = (module.rows * module.columns * module.samplesPerPixel * module.bitsAllocated) / 8;
  if (!bytes || bytes.length < expected)
    throw corrupt(`the decoder returned ${bytes?.length ?? 0} bytes for a frame of ${expected}`);
  return { bytes, planar: false, photometricInterpretation, bitOffset: 0 };
}

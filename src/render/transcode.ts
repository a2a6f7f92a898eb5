/**
 * Decompression for a send: a stored instance in a compressed (encapsulated) or deflated transfer syntax,
 * rewritten as a Part-10 file in explicit or implicit VR little endian, for a peer that accepts nothing
 * else. Every frame is decoded into native Pixel Data; PhotometricInterpretation follows what the decoder
 * produced (YBR JPEG and JPEG 2000 become RGB), PlanarConfiguration is 0 for colour, and a lossy source says
 * LossyImageCompression "01". A deflated dataset is only inflated. Every other element is copied as it is.
 *
 * It lives in render because the decoding is render's (pixels.ts: the WebAssembly codecs, our RLE decoder)
 * and it runs in render's worker pool (pool.ts); main.ts hands the pool's `transcode` to the SCU adapter.
 *
 * @example
 * const bytes = await transcodeFile('storage/1.2.3.dcm', TransferSyntax.ExplicitVRLittleEndian);
 */
import { readFile } from 'node:fs/promises';
import { parseHeader, type DicomHeader } from '../dicom/header.js';
import { buildFileMeta, splitPart10 } from '../dicom/part10.js';
import { TransferSyntax } from '../dicom/transfer-syntax.js';
import { DatasetWalker, type RawElement } from '../dicom/walker.js';
import { EXPLICIT_LITTLE, elementHeader, encodeElement, type Syntax } from '../dicom/encode.js';
import { SluiceError } from '../errors.js';
import { explicitToImplicitLittleEndian } from '../dicom/implicit-vr.js';
import { initCodecs, needsCodecs, pixelSource } from './pixels.js';

/** The syntaxes a stored instance can be decompressed to. */
export type NativeTarget =
  typeof TransferSyntax.ExplicitVRLittleEndian | typeof TransferSyntax.ImplicitVRLittleEndian;

/** Stored syntaxes that have no uncompressed fallback without this module: encapsulated or deflated. */
export function needsDecompression(transferSyntaxUid: string): boolean {
  return (
    transferSyntaxUid !== TransferSyntax.ImplicitVRLittleEndian &&
    transferSyntaxUid !== TransferSyntax.ExplicitVRLittleEndian &&
    transferSyntaxUid !== TransferSyntax.ExplicitVRBigEndian
  );
}

const failed = (message: string) => new SluiceError('TRANSCODE.FAILED', message, 500);

/** Reads a stored Part-10 file and decompresses it (see `transcode`). */
export async function transcodeFile(path: string, target: string): Promise<Buffer> {
  return transcode(await readFile(path), target);
}

/** The Part-10 file `file` rewritten in `target` (explicit or implicit VR little endian). */
export async function transcode(file: Buffer, target: string): Promise<Buffer> {
  if (target !== TransferSyntax.ExplicitVRLittleEndian && target !== TransferSyntax.ImplicitVRLittleEndian)
    throw failed(`cannot transcode to ${target}: only explicit and implicit VR little endian`);
  let header: DicomHeader;
  try {
    header = parseHeader(file);
  } catch (err) {
    throw failed(`cannot read the stored file: ${(err as Error).message}`);
  }
  const ts = header.transferSyntaxUid;
  if (!needsDecompression(ts)) throw failed(`transfer syntax ${ts} is not compressed`);
  const meta = buildFileMeta({
    sopClassUid: header.sopClassUid,
    sopInstanceUid: header.sopInstanceUid,
    transferSyntaxUid: target,
    sourceAeTitle: metaString(header, '00020016'),
  });
  const { dataset, deflated } = splitPart10(file, ts);
  const implicit = target === TransferSyntax.ImplicitVRLittleEndian;
  if (deflated) return Buffer.concat([meta, implicit ? explicitToImplicitLittleEndian(dataset) : dataset]);
  if (needsCodecs(ts)) await initCodecs();
  const { before, pixels, after } = decompress(file, header, dataset);
  const syntax: Syntax = { explicit: !implicit, littleEndian: true };
  const convert = (b: Buffer) => (implicit && b.length ? explicitToImplicitLittleEndian(b) : b);
  return Buffer.concat([
    meta,
    convert(before),
    elementHeader(0x7fe00010, pixels.vr, pixels.value.length, syntax),
    pixels.value,
    convert(after),
  ]);
}

function metaString(header: DicomHeader, tag: string): string | undefined {
  const v = header.meta[tag]?.Value?.[0];
  return typeof v === 'string' && v.trim() ? v.trim() : undefined;
}

/**
 * Decodes every frame into one native value and rewrites the attributes that describe it. Returns the
 * explicit VR little endian elements before and after the pixel data, and the pixel data's value.
 */
function decompress(
  file: Buffer,
  header: DicomHeader,
  /** The dataset of `file`: compressed syntaxes are explicit VR little endian around the pixel data. */
  dataset: Buffer,
): { before: Buffer; pixels: { vr: string; value: Buffer }; after: Buffer } {
  const ts = header.transferSyntaxUid;
  const source = pixelSource(file, header);
  const m = source.module;
  if (m.bitsAllocated % 8) throw failed(`BitsAllocated ${m.bitsAllocated} in ${ts} cannot be decompressed`);
  const frameBytes = (m.rows * m.columns * m.samplesPerPixel * m.bitsAllocated) / 8;
  const total = frameBytes * m.numberOfFrames;
  const value = Buffer.alloc(total + (total % 2));
  let photometric = m.photometricInterpretation;
  for (let i = 0; i < m.numberOfFrames; i++) {
    try {
      const frame = source.frame(i);
      if (frame.planar) throw new Error('the decoder returned colour planes');
      if (frame.bytes.length < frameBytes)
        throw new Error(`the decoder returned ${frame.bytes.length} bytes for a frame of ${frameBytes}`);
      value.set(frame.bytes.subarray(0, frameBytes), i * frameBytes);
      photometric = frame.photometricInterpretation;
    } catch (err) {
      throw failed(`frame ${i + 1} of ${m.numberOfFrames}: ${(err as Error).message}`);
    }
  }

  const text = (tag: number, s: string) =>
    encodeElement(tag, 'CS', Buffer.from(s.length % 2 ? `${s} ` : s, 'latin1'), EXPLICIT_LITTLE);
  const changes = new Map<number, Buffer | null>();
  if (photometric !== m.photometricInterpretation) changes.set(0x00280004, text(0x00280004, photometric));
  if (m.samplesPerPixel > 1) {
    const zero = Buffer.alloc(2);
    changes.set(0x00280006, encodeElement(0x00280006, 'US', zero, EXPLICIT_LITTLE));
  }
  const attributes = header.dataset;
  if (isLossy(ts, source.encodedFrame(0))) {
    if (String(attributes['00282110']?.Value?.[0] ?? '').trim() !== '01')
      changes.set(0x00282110, text(0x00282110, '01'));
    if (!attributes['00282114']?.Value?.length) changes.set(0x00282114, text(0x00282114, LOSSY_METHOD[ts]));
  }
  // Group lengths of the groups that change, and the encapsulation's own attributes (Extended Offset
  // Table and its lengths, Encapsulated Pixel Data Value Total Length), go.
  for (const tag of [0x00280000, 0x7fe00000, 0x7fe00001, 0x7fe00002, 0x7fe00003]) changes.set(tag, null);

  const reader = new DatasetWalker(dataset, true, true);
  const { elements } = reader.elements(0, dataset.length, 0);
  const pixelIndex = elements.findIndex((e) => e.tag === 0x7fe00010);
  const rewrite = (list: RawElement[], insertRest: boolean): Buffer => {
    const out: Buffer[] = [];
    const pending = [...changes].filter(([, b]) => b).sort(([a], [b]) => a - b);
    for (const e of list) {
      while (pending.length && pending[0][0] < e.tag) out.push(pending.shift()![1]!);
      if (pending.length && pending[0][0] === e.tag) out.push(pending.shift()![1]!);
      else if (!changes.has(e.tag)) out.push(dataset.subarray(e.start, e.end));
    }
    if (insertRest) for (const [, b] of pending) out.push(b!);
    return Buffer.concat(out);
  };
  return {
    before: rewrite(elements.slice(0, pixelIndex), true),
    pixels: { vr: m.bitsAllocated > 8 ? 'OW' : 'OB', value },
    after: Buffer.concat(elements.slice(pixelIndex + 1).map((e) => dataset.subarray(e.start, e.end))),
  };
}

const LOSSY_METHOD: Record<string, string> = {
  [TransferSyntax.JpegBaseline]: 'ISO_10918_1',
  [TransferSyntax.JpegExtended]: 'ISO_10918_1',
  [TransferSyntax.JpegLsNearLossless]: 'ISO_14495_1',
  [TransferSyntax.Jpeg2000]: 'ISO_15444_1',
};

/**
 * Whether the codestream proves lossy compression: JPEG baseline and extended always; JPEG-LS
 * near-lossless when its NEAR parameter is not 0; JPEG 2000 (.91) when it uses the irreversible 9-7 wavelet
 * (a 5-3 codestream cut short by rate control is lossy too but cannot be told apart: the file's own
 * LossyImageCompression, always kept, has to say so). A codestream we cannot read counts as lossy: saying
 * so wrongly is the safe mistake.
 */
export function isLossy(ts: string, codestream: Uint8Array | undefined): boolean {
  if (!(ts in LOSSY_METHOD)) return false;
  if (ts === TransferSyntax.JpegBaseline || ts === TransferSyntax.JpegExtended || !codestream) return true;
  const b = codestream;
  const u16 = (o: number) => (b[o] << 8) | b[o + 1];
  if (ts === TransferSyntax.JpegLsNearLossless) {
    // Marker segments from SOI to the first SOS: Ls, Ns, Ns × (Ci, Tm), NEAR.
    for (let o = 2; o + 4 <= b.length; o += 2 + u16(o + 2)) {
      if (b[o] !== 0xff) return true;
      if (b[o + 1] === 0xda) return o + 5 + 2 * b[o + 4] < b.length ? b[o + 5 + 2 * b[o + 4]] > 0 : true;
    }
    return true;
  }
  // JPEG 2000: the COD segment of the main header (a JP2 wrapper is skipped by finding SOC then SIZ).
  let o = 0;
  while (o + 4 <= b.length && !(b[o] === 0xff && b[o + 1] === 0x4f && b[o + 2] === 0xff && b[o + 3] === 0x51))
    o++;
  for (o += 2; o + 14 <= b.length; o += 2 + u16(o + 2)) {
    if (b[o] !== 0xff || b[o + 1] === 0x90) return true; // not a marker, or SOT before any COD
    if (b[o + 1] === 0x52) return b[o + 13] === 0; // transformation: 0 = 9-7 irreversible, 1 = 5-3
  }
  return true;
}

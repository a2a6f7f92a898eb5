/**
 * DICOM RLE Lossless (PS3.5 Annex G) for one frame. Ours rather than a codec package's: it handles every
 * BitsAllocated (the RT dose files in the wild are 32-bit) and writes pixel-interleaved little-endian
 * samples, the layout the rest of the renderer reads (a library we tried mixed up RGB planes).
 */
import { SluiceError } from '../errors.js';

const corrupt = (reason: string) => new SluiceError('RENDER.CORRUPT', `RLE frame is corrupt: ${reason}`, 501);

/**
 * Decodes one RLE frame into `rows*columns*samplesPerPixel` samples of `bitsAllocated/8` bytes each,
 * little endian, pixel-interleaved.
 */
export function decodeRleFrame(
  frame: Uint8Array,
  pixels: number,
  samplesPerPixel: number,
  bitsAllocated: number,
): Uint8Array {
  const bytesPerSample = bitsAllocated / 8;
  if (!Number.isInteger(bytesPerSample) || bytesPerSample < 1)
    throw new SluiceError(
      'RENDER.UNSUPPORTED',
      `RLE with BitsAllocated ${bitsAllocated} cannot be rendered`,
      501,
    );
  if (frame.length < 64) throw corrupt('shorter than its 64-byte header');
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const segments = view.getUint32(0, true);
  const expected = bytesPerSample * samplesPerPixel;
  if (segments !== expected) throw corrupt(`${segments} segments, expected ${expected}`);
  const out = new Uint8Array(pixels * expected);
  for (let s = 0; s < segments; s++) {
    const start = view.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : frame.length;
    if (start < 64 || end > frame.length || start > end) throw corrupt(`segment ${s + 1} offsets`);
    // Segments run sample by sample, most significant byte first.
    const sample = Math.floor(s / bytesPerSample);
    const byteInSample = bytesPerSample - 1 - (s % bytesPerSample);
    const stride = expected;
    let target = sample * bytesPerSample + byteInSample;
    let written = 0;
    let i = start;
    while (i < end && written < pixels) {
      const n = (frame[i++] << 24) >> 24; // signed byte
      if (n >= 0) {
        const count = Math.min(n + 1, pixels - written, end - i);
        for (let k = 0; k < count; k++, target += stride) out[target] = frame[i + k];
        i += n + 1;
        written += count;
      } else if (n !== -128) {
        const value = frame[i++];
        const count = Math.min(1 - n, pixels - written);
        for (let k = 0; k < count; k++, target += stride) out[target] = value;
        written += count;
      }
    }
    if (written < pixels) throw corrupt(`segment ${s + 1} holds ${written} of ${pixels} bytes`);
  }
  return out;
}

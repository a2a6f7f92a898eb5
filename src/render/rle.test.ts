import { describe, expect, it } from 'vitest';
import { decodeRleFrame } from './rle.js';

/** An RLE frame from already PackBits-encoded segments. */
function frame(segments: number[][]): Uint8Array {
  const header = Buffer.alloc(64);
  header.writeUInt32LE(segments.length, 0);
  let offset = 64;
  segments.forEach((s, i) => {
    header.writeUInt32LE(offset, 4 + 4 * i);
    offset += s.length;
  });
  return Buffer.concat([header, ...segments.map((s) => Buffer.from(s))]);
}

describe('decodeRleFrame', () => {
  it('decodes literal and repeat runs of 8-bit samples', () => {
    // 2 literal bytes (n = 1), then 3 × 9 (n = −2); −128 is a no-op.
    const out = decodeRleFrame(frame([[1, 5, 6, 0x80, 0xfe, 9]]), 5, 1, 8);
    expect(Array.from(out)).toEqual([5, 6, 9, 9, 9]);
  });

  it('puts the most significant byte segment first and writes little endian samples', () => {
    // Two 16-bit pixels 0x0102 and 0x0304: segment 1 holds the high bytes, segment 2 the low bytes.
    const out = decodeRleFrame(
      frame([
        [1, 0x01, 0x03],
        [1, 0x02, 0x04],
      ]),
      2,
      1,
      16,
    );
    expect(Array.from(new Uint16Array(out.buffer, out.byteOffset, 2))).toEqual([0x0102, 0x0304]);
  });

  it('interleaves colour planes (R, G, B segments) pixel by pixel', () => {
    const out = decodeRleFrame(
      frame([
        [0xff, 10],
        [0xff, 20],
        [0xff, 30],
      ]),
      2,
      3,
      8,
    );
    expect(Array.from(out)).toEqual([10, 20, 30, 10, 20, 30]);
  });

  it('refuses a frame whose segment count does not match the image', () => {
    expect(() => decodeRleFrame(frame([[0, 1]]), 1, 3, 8)).toThrow(/1 segments, expected 3/);
  });

  it('refuses a segment that ends early', () => {
    expect(() => decodeRleFrame(frame([[0, 1]]), 4, 1, 8)).toThrow(/holds 1 of 4 bytes/);
  });
});

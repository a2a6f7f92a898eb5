import { describe, expect, it } from 'vitest';
import { readJpegInfo } from './jpeg.js';

const segment = (marker: number, body: number[]) => [
  0xff,
  marker,
  (body.length + 2) >> 8,
  (body.length + 2) & 0xff,
  ...body,
];
const JFIF = segment(0xe0, [0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]);
const frame = (
  marker: number,
  rows: number,
  columns: number,
  components: Array<[id: number, sampling: number]>,
  precision = 8,
) =>
  segment(marker, [
    precision,
    rows >> 8,
    rows & 0xff,
    columns >> 8,
    columns & 0xff,
    components.length,
    ...components.flatMap(([id, sampling]) => [id, sampling, 0]),
  ]);
const SOS = segment(0xda, [1, 1, 0, 0, 63, 0]);
/** Markers only, with a few bytes standing in for the entropy-coded data: what readJpegInfo reads. */
const jpeg = (...parts: number[][]) => Uint8Array.from([0xff, 0xd8, ...parts.flat(), 0x12, 0x34, 0xff, 0xd9]);

describe('readJpegInfo', () => {
  it('reads rows, columns and components of a baseline frame', () => {
    expect(readJpegInfo(jpeg(JFIF, frame(0xc0, 480, 640, [[1, 0x11]]), SOS))).toEqual({
      rows: 480,
      columns: 640,
      components: 1,
      precision: 8,
      photometricInterpretation: 'MONOCHROME2',
    });
  });

  it('tells subsampled YCbCr, full YCbCr and RGB apart', () => {
    const ycc = (s: number) =>
      frame(0xc0, 8, 8, [
        [1, s],
        [2, 0x11],
        [3, 0x11],
      ]);
    expect(readJpegInfo(jpeg(JFIF, ycc(0x22), SOS)).photometricInterpretation).toBe('YBR_FULL_422');
    expect(readJpegInfo(jpeg(JFIF, ycc(0x11), SOS)).photometricInterpretation).toBe('YBR_FULL');
    const adobe = segment(0xee, [0x41, 0x64, 0x6f, 0x62, 0x65, 0, 100, 0, 0, 0, 0, 0]);
    expect(readJpegInfo(jpeg(adobe, ycc(0x11), SOS)).photometricInterpretation).toBe('RGB');
    const named = frame(0xc0, 8, 8, [
      [82, 0x11],
      [71, 0x11],
      [66, 0x11],
    ]);
    expect(readJpegInfo(jpeg(named, SOS)).photometricInterpretation).toBe('RGB');
  });

  it('skips fill bytes and standalone markers between segments', () => {
    const info = readJpegInfo(jpeg([0xff, 0xff], JFIF, [0xff, 0x01], frame(0xc0, 2, 3, [[1, 0x11]]), SOS));
    expect(info).toMatchObject({ rows: 2, columns: 3 });
  });

  const bad: Array<[string, Uint8Array, RegExp]> = [
    ['PNG bytes', Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), /no SOI/],
    ['an empty body', new Uint8Array(0), /no SOI/],
    ['a progressive JPEG', jpeg(JFIF, frame(0xc2, 8, 8, [[1, 0x11]]), SOS), /progressive.*only baseline/],
    ['a lossless JPEG', jpeg(frame(0xc3, 8, 8, [[1, 0x11]], 16), SOS), /lossless/],
    ['12-bit samples', jpeg(frame(0xc0, 8, 8, [[1, 0x11]], 12), SOS), /8-bit/],
    [
      'CMYK',
      jpeg(
        frame(0xc0, 8, 8, [
          [1, 0x11],
          [2, 0x11],
          [3, 0x11],
          [4, 0x11],
        ]),
        SOS,
      ),
      /4 components/,
    ],
    ['a frame without lines (DNL)', jpeg(frame(0xc0, 0, 8, [[1, 0x11]]), SOS), /DNL/],
    ['no frame before the scan', jpeg(JFIF, SOS), /before the frame header/],
    ['a truncated segment', Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x40, 1, 2]), /past the end/],
    [
      'no EOI',
      Uint8Array.from([0xff, 0xd8, ...frame(0xc0, 8, 8, [[1, 0x11]]), ...SOS, 1, 2, 3]),
      /truncated/,
    ],
    ['garbage between segments', Uint8Array.from([0xff, 0xd8, 0x00, 0x00]), /expected a marker/],
  ];
  it.each(bad)('refuses %s (400)', (_name, bytes, message) => {
    expect(() => readJpegInfo(bytes)).toThrow(message);
    try {
      readJpegInfo(bytes);
    } catch (err) {
      expect(err).toMatchObject({ httpStatus: 400, code: 'JPEG.INVALID' });
    }
  });
});

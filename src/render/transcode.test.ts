/**
 * Decompression of real compressed files (Debian's python3-pydicom test set): lossless sources give the
 * pixels of their uncompressed copies, YBR sources become RGB, lossy sources say so, a deflated dataset is
 * inflated as it is, and a frame that cannot be decoded is a precise error.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { attr, parseHeader } from '../dicom/header.js';
import { TransferSyntax } from '../dicom/transfer-syntax.js';
import { initCodecs, pixelSource } from './pixels.js';
import { isLossy, transcode } from './transcode.js';

const DATA = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
const EXPLICIT = TransferSyntax.ExplicitVRLittleEndian;
const IMPLICIT = TransferSyntax.ImplicitVRLittleEndian;
const read = (name: string) => readFile(join(DATA, name));

/** All frames of a file, decoded as rendering decodes them, one after the other. */
async function pixels(file: Buffer): Promise<Buffer> {
  await initCodecs();
  const source = pixelSource(file, parseHeader(file));
  const m = source.module;
  const frameBytes = (m.rows * m.columns * m.samplesPerPixel * m.bitsAllocated) / 8;
  const frames = [];
  for (let i = 0; i < m.numberOfFrames; i++) frames.push(source.frame(i).bytes.subarray(0, frameBytes));
  return Buffer.concat(frames);
}

describe('transcode', () => {
  it.each([
    ['MR_small_RLE.dcm', 'MR_small.dcm', IMPLICIT],
    ['MR_small_jpeg_ls_lossless.dcm', 'MR_small.dcm', EXPLICIT],
    ['MR_small_jp2klossless.dcm', 'MR_small.dcm', EXPLICIT],
    ['rtdose_rle.dcm', 'rtdose.dcm', EXPLICIT], // 15 frames, 32-bit
    ['SC_rgb_jpeg_gdcm.dcm', 'SC_rgb_rle.dcm', IMPLICIT], // JPEG lossless RGB
  ])('%s gives the pixels of %s (%s)', async (compressed, uncompressed, target) => {
    const source = await read(compressed);
    const out = await transcode(source, target);
    const header = parseHeader(out);
    expect(header.transferSyntaxUid).toBe(target);
    expect(header.sopInstanceUid).toBe(parseHeader(source).sopInstanceUid);
    expect((await pixels(out)).equals(await pixels(await read(uncompressed)))).toBe(true);
    expect(attr(header, 'LossyImageCompression')).toBe('');
    // The other attributes are those of the source (by value: implicit VR does not keep every VR).
    const values = (ds: Record<string, { Value?: unknown[] }>) =>
      Object.fromEntries(Object.entries(ds).flatMap(([t, e]) => (t === '00280006' ? [] : [[t, e.Value]])));
    expect(values(header.dataset)).toEqual(values(parseHeader(source).dataset));
  });

  it.each([
    ['SC_rgb_dcmtk_+eb+cy+np.dcm', 'YBR_FULL_422'],
    ['SC_rgb_jpeg_dcmtk.dcm', 'YBR_FULL'],
  ])('decodes JPEG baseline %s (%s) to RGB and keeps it marked lossy', async (name) => {
    const source = await read(name);
    const out = await transcode(source, EXPLICIT);
    const header = parseHeader(out);
    expect(attr(header, 'PhotometricInterpretation')).toBe('RGB');
    expect(attr(header, 'PlanarConfiguration')).toBe('0');
    expect(attr(header, 'LossyImageCompression')).toBe('01');
    // Rendering decodes the same file to the same RGB pixels.
    expect((await pixels(out)).equals(await pixels(source))).toBe(true);
    expect(out.length % 2).toBe(0);
  });

  it('decodes JPEG 2000 YBR_RCT to RGB, lossless', async () => {
    const source = await read('GDCMJ2K_TextGBR.dcm');
    const header = parseHeader(await transcode(source, EXPLICIT));
    expect(attr(header, 'PhotometricInterpretation')).toBe('RGB');
    expect(attr(header, 'PlanarConfiguration')).toBe('0');
    expect(attr(header, 'LossyImageCompression')).toBe('');
  });

  it('adds LossyImageCompression 01 and its method to a lossy source that lacks them', async () => {
    // 12-bit JPEG extended, its lossy marks removed by hand: the syntax alone says it is lossy.
    const source = await read('JPGExtended.dcm');
    const mark = Buffer.from('(\0\x10\x21CS\x02\x0001', 'latin1'); // (0028,2110) CS "01"
    const at = source.indexOf(mark);
    expect(at).toBeGreaterThan(0);
    const blanked = Buffer.from(source);
    blanked.write('00', at + 8, 'latin1');
    const header = parseHeader(await transcode(blanked, IMPLICIT));
    expect(attr(header, 'LossyImageCompression')).toBe('01');
    expect(attr(header, 'LossyImageCompressionMethod')).toBe('ISO_10918_1');
  });

  it('tells lossy JPEG 2000 and JPEG-LS from lossless by their codestreams', async () => {
    const first = async (name: string) => {
      const file = await read(name);
      return pixelSource(file, parseHeader(file)).encodedFrame(0);
    };
    expect(isLossy(TransferSyntax.Jpeg2000, await first('JPEG2000.dcm'))).toBe(true); // 9-7 wavelet
    expect(isLossy(TransferSyntax.Jpeg2000, await first('MR_small_jp2klossless.dcm'))).toBe(false); // 5-3
    expect(isLossy(TransferSyntax.JpegLsNearLossless, await first('MR_small_jpeg_ls_lossless.dcm'))).toBe(
      false,
    ); // NEAR = 0
    expect(isLossy(TransferSyntax.Jpeg2000Lossless, undefined)).toBe(false);
    expect(isLossy(TransferSyntax.Jpeg2000, Buffer.from('not a codestream'))).toBe(true);
  });

  it('inflates a deflated dataset without touching it', async () => {
    const source = await read('image_dfl.dcm');
    const out = await transcode(source, EXPLICIT);
    expect(parseHeader(out).transferSyntaxUid).toBe(EXPLICIT);
    expect((await pixels(out)).equals(await pixels(source))).toBe(true);
    expect(parseHeader(out).dataset).toEqual(parseHeader(source).dataset);
  });

  it('fails with the frame and the decoder reason for a frame that cannot be decoded', async () => {
    await expect(
      transcode(await read('JPEG2000-embedded-sequence-delimiter.dcm'), EXPLICIT),
    ).rejects.toMatchObject({
      code: 'TRANSCODE.FAILED',
      message: expect.stringMatching(
        /^frame 1 of 1: the 1\.2\.840\.10008\.1\.2\.4\.91 frame cannot be decoded: /,
      ),
    });
    await expect(transcode(await read('MR_small.dcm'), EXPLICIT)).rejects.toMatchObject({
      message: `transfer syntax ${EXPLICIT} is not compressed`,
    });
  });
});

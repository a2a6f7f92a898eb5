/**
 * Every real test file that Debian's python3-pydicom ships, uploaded and rendered through the API: each
 * one with pixel data renders to a PNG of its own size (first and last frame), except the files listed
 * below with the reason we knowingly refuse or cannot render them; and the lossless and uncompressed
 * copies of the same image in that set render to the same pixels, and the first frames look as DCMTK draws
 * them (within one grey level) wherever DCMTK can decode them.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { decodePng } from './helpers/png.js';
import { dcmtk } from './helpers/dcmtk.js';
import { attr, parseHeader } from '../src/dicom/header.js';
import { TransferSyntax } from '../src/dicom/transfer-syntax.js';

const DATA = '/usr/lib/python3/dist-packages/pydicom/data';

/** Files with pixel data that ingest refuses (400), and why. */
const REFUSED_AT_INGEST: Record<string, RegExp> = {
  'no_meta.dcm': /not a DICOM Part-10 file/, // CT_small without preamble or file meta
  'meta_missing_tsyntax.dcm': /file meta information/, // its meta has no TransferSyntaxUID
  'MR_truncated.dcm': /truncated/, // the pixel data is cut short
  'SC_rgb_jpeg.dcm': /has no valid VR/, // says explicit VR, is encoded implicit
  // SpecificCharacterSet with code extensions (ISO 2022 IR 13\ISO 2022 IR 87 and the like): dcmjs cannot read it.
  'J2K_pixelrep_mismatch.dcm': /multiple character sets/,
  'chrH31.dcm': /multiple character sets/,
  'chrH32.dcm': /multiple character sets/,
  'chrI2.dcm': /multiple character sets/,
  'nested_priv_SQ.dcm': /unreadable dataset/, // a private sequence dcmjs cannot read
};

/** Stored files we knowingly answer 501 for, and why. */
const KNOWN_501: Record<string, RegExp> = {
  // pydicom's parser test: four codestream bytes replaced by a sequence delimiter; not a decodable JPEG 2000.
  'JPEG2000-embedded-sequence-delimiter.dcm': /cannot be decoded/,
};

/** Groups of files that hold the same image, losslessly: they must render to identical pixels. */
const SAME_PIXELS: Array<{ name: string; renders: string[] }> = [
  {
    name: 'MR_small in every uncompressed and lossless syntax',
    renders: [
      'MR_small.dcm#1',
      'MR_small_implicit.dcm#1',
      'MR_small_bigendian.dcm#1',
      'MR_small_expb.dcm#1',
      'MR_small_padded.dcm#1',
      'MR_small_RLE.dcm#1',
      'MR_small_jp2klossless.dcm#1',
      'MR_small_jpeg_ls_lossless.dcm#1',
    ],
  },
  {
    name: '32-bit RT dose, first frame: implicit, big endian, RLE, single-frame copies',
    renders: [
      'rtdose.dcm#1',
      'rtdose_expb.dcm#1',
      'rtdose_rle.dcm#1',
      'rtdose_1frame.dcm#1',
      'rtdose_expb_1frame.dcm#1',
      'rtdose_rle_1frame.dcm#1',
    ],
  },
  {
    name: '32-bit RT dose, last frame',
    renders: ['rtdose.dcm#15', 'rtdose_expb.dcm#15', 'rtdose_rle.dcm#15'],
  },
  {
    name: '1-bit segmentation, little and big endian',
    renders: ['liver_1frame.dcm#1', 'liver_expb_1frame.dcm#1'],
  },
  {
    name: 'SC_rgb: RLE at 8, 16 and 32 bits and JPEG lossless',
    renders: [
      'SC_rgb_rle.dcm#1',
      'SC_rgb_jpeg_gdcm.dcm#1',
      'SC_rgb_rle_16bit.dcm#1',
      'SC_rgb_rle_32bit.dcm#1',
      'SC_rgb_rle_2frame.dcm#1',
      'SC_rgb_rle_16bit_2frame.dcm#1',
      'SC_rgb_rle_32bit_2frame.dcm#1',
    ],
  },
  {
    name: "SC_rgb's second frame at 8, 16 and 32 bits",
    renders: ['SC_rgb_rle_2frame.dcm#2', 'SC_rgb_rle_16bit_2frame.dcm#2', 'SC_rgb_rle_32bit_2frame.dcm#2'],
  },
  {
    name: 'an RGB JPEG without colour transform and its copy decompressed by DCMTK',
    renders: ['SC_jpeg_no_color_transform.dcm#1', 'SC_rgb_jpeg_dcmd.dcm#1'],
  },
];

/** Rendered files where DCMTK's picture differs from ours, and why we trust ours. */
const DCMTK_DIFFERS: Record<string, string> = {
  // 32-bit big endian: DCMTK reads these pixels differently from the little endian and RLE copies of the
  // same dose grid (pydicom fixed the data after dcmconv wrote it); ours equal those copies (SAME_PIXELS).
  'rtdose_expb.dcm': '32-bit big endian',
  'rtdose_expb_1frame.dcm': '32-bit big endian',
};
const JPEG_2000 = [TransferSyntax.Jpeg2000, TransferSyntax.Jpeg2000Lossless] as string[];

interface Outcome {
  file: string;
  /** Largest grey-level difference from DCMTK's rendering of the first frame, or why not compared. */
  dcmtk?: number | string;
  refused?: { status: number; message: string };
  png?: { status: number; message: string };
  hasPixelTag: boolean;
}

let engine: TestEngine;
const outcomes: Outcome[] = [];
/** Decoded renders by `file#frame`. */
const renders = new Map<string, Buffer>();

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    if ((await stat(path)).isDirectory()) out.push(...(await files(path)));
    else out.push(path);
  }
  return out;
}

/** (7FE0,0010) in either byte order, or a deflated dataset: an independent guess at "has pixel data". */
function hasPixelTag(bytes: Buffer, path: string): boolean {
  return (
    bytes.includes(Buffer.from([0xe0, 0x7f, 0x10, 0x00])) ||
    bytes.includes(Buffer.from([0x7f, 0xe0, 0x00, 0x10])) ||
    basename(path) === 'image_dfl.dcm'
  );
}

/**
 * Renders the first frame with DCMTK (dcmj2pnm: uncompressed, RLE, JPEG; dcml2pnm: JPEG-LS) using the same
 * window choice (the file's first window, else min-max) and answers the largest difference per sample.
 */
async function compareWithDcmtk(
  path: string,
  header: ReturnType<typeof parseHeader>,
  ours: { data: Buffer; channels: number },
): Promise<number | string> {
  const ts = header.transferSyntaxUid;
  if (JPEG_2000.includes(ts)) return 'DCMTK in Debian has no JPEG 2000 decoder';
  const tool =
    ts === TransferSyntax.JpegLsLossless || ts === TransferSyntax.JpegLsNearLossless
      ? 'dcml2pnm'
      : 'dcmj2pnm';
  const window = attr(header, 'WindowCenter') && attr(header, 'WindowWidth') ? ['+Wi', '1'] : ['+Wm'];
  const out = join(dcmtkDir, `${outcomes.length}.png`);
  const r = await dcmtk(tool, [...window, '+on', path, out]);
  if (r.code !== 0) throw new Error(`${tool} ${path}: exit ${r.code}\n${r.stderr}`);
  const theirs = await decodePng(await readFile(out));
  if (theirs.channels !== ours.channels || theirs.data.length !== ours.data.length)
    return `different layout: ${theirs.channels} channels, ${theirs.data.length} samples`;
  let max = 0;
  for (let i = 0; i < ours.data.length; i++) max = Math.max(max, Math.abs(ours.data[i] - theirs.data[i]));
  return max;
}

let dcmtkDir: string;

beforeAll(async () => {
  if (!existsSync(DATA))
    throw new Error(`${DATA} is missing: apt-get install python3-pydicom (.ci/run installs it)`);
  engine = await startTestEngine();
  dcmtkDir = join(engine.dataDir, 'dcmtk');
  await mkdir(dcmtkDir);
  const all = [...(await files(join(DATA, 'test_files'))), ...(await files(join(DATA, 'charset_files')))];
  // One at a time, rendering right after each upload: several files share a SOP Instance UID (the same
  // image in other syntaxes), and a later upload overwrites an earlier one.
  for (const path of all) {
    const bytes = await readFile(path);
    const file = relative(DATA, path);
    const outcome: Outcome = { file, hasPixelTag: hasPixelTag(bytes, path) };
    outcomes.push(outcome);
    const up = await engine.api('/api/images', { method: 'POST', body: new Uint8Array(bytes) });
    if (up.status !== 200 && up.status !== 201) {
      outcome.refused = { status: up.status, message: await up.text() };
      continue;
    }
    const { id } = (await up.json()) as { id: number };
    const r = await engine.api(`/api/images/${id}/png`);
    outcome.png = { status: r.status, message: r.status === 200 ? '' : await r.text() };
    if (r.status !== 200) continue;
    const header = parseHeader(bytes);
    const frames = Math.max(1, Number.parseInt(attr(header, 'NumberOfFrames'), 10) || 1);
    const expected = { width: Number(attr(header, 'Columns')), height: Number(attr(header, 'Rows')) };
    const first = await decodePng(Buffer.from(await r.arrayBuffer()));
    expect({ width: first.width, height: first.height }, file).toEqual(expected);
    renders.set(`${basename(file)}#1`, first.data);
    outcome.dcmtk = await compareWithDcmtk(path, header, first);
    const info = await engine.api(`/api/images/${id}/imageinformation`);
    expect(info.status, file).toBe(200);
    expect(((await info.json()) as { numberOfFrames: number }).numberOfFrames, file).toBe(frames);
    if (frames > 1) {
      const last = await engine.api(`/api/images/${id}/png?framenumber=${frames}`);
      expect(last.status, file).toBe(200);
      const decoded = await decodePng(Buffer.from(await last.arrayBuffer()));
      expect({ width: decoded.width, height: decoded.height }, file).toEqual(expected);
      renders.set(`${basename(file)}#${frames}`, decoded.data);
      if (frames > 2) {
        const middle = Math.ceil(frames / 2);
        const m = await engine.api(`/api/images/${id}/png?framenumber=${middle}`);
        expect(m.status, file).toBe(200);
        renders.set(
          `${basename(file)}#${middle}`,
          (await decodePng(Buffer.from(await m.arrayBuffer()))).data,
        );
      }
      expect((await engine.api(`/api/images/${id}/png?framenumber=${frames + 1}`)).status, file).toBe(400);
    }
  }
}, 600_000);
afterAll(async () => engine?.cleanup());

describe("python3-pydicom's test files", () => {
  it('has the data set and walks all of it', () => {
    expect(outcomes.length).toBeGreaterThan(150);
  });

  it('renders every file with pixel data, first and last frame, at its own size', () => {
    const rendered = outcomes.filter((o) => o.png?.status === 200).map((o) => basename(o.file));
    // The transfer syntaxes and kinds of image the set brings, each rendered at least once.
    for (const name of [
      'CT_small.dcm', // explicit VR LE, signed 16-bit
      'MR_small_bigendian.dcm', // explicit VR BE
      'MR_small_implicit.dcm',
      'image_dfl.dcm', // deflated
      'JPGExtended.dcm', // 12-bit JPEG extended
      'SC_rgb_jpeg_dcmtk.dcm', // JPEG baseline YBR_FULL
      'SC_rgb_dcmtk_+eb+cy+np.dcm', // JPEG baseline YBR_FULL_422
      'SC_rgb_jpeg_gdcm.dcm', // JPEG lossless
      'MR_small_jpeg_ls_lossless.dcm', // JPEG-LS
      'JPEG2000.dcm', // JPEG 2000
      'GDCMJ2K_TextGBR.dcm', // JPEG 2000 YBR_RCT
      'MR_small_RLE.dcm', // RLE
      'SC_rgb_rle_32bit_2frame.dcm', // RLE, 32-bit colour, multi-frame
      'SC_ybr_full_422_uncompressed.dcm',
      'ExplVR_BigEnd.dcm', // big endian planar RGB
      'rtdose.dcm', // 32-bit, 15 frames
      'liver_expb_1frame.dcm', // 1-bit, big endian
      'chrGreek.dcm',
    ])
      expect(rendered, name).toContain(name);
    const failures = outcomes.filter(
      (o) => o.hasPixelTag && o.png && o.png.status !== 200 && !(basename(o.file) in KNOWN_501),
    );
    expect(failures).toEqual([]);
  });

  it('refuses at ingest exactly the listed files with pixel data, for the listed reasons', () => {
    const refused = outcomes.filter((o) => o.refused && o.hasPixelTag);
    expect(refused.map((o) => basename(o.file)).sort()).toEqual(Object.keys(REFUSED_AT_INGEST).sort());
    for (const o of refused) {
      expect(o.refused!.status, o.file).toBe(400);
      expect(o.refused!.message, o.file).toMatch(REFUSED_AT_INGEST[basename(o.file)]);
    }
  });

  it('answers 501 exactly for the listed files, with the reason', () => {
    const answered501 = outcomes.filter((o) => o.png?.status === 501 && o.hasPixelTag);
    expect(answered501.map((o) => basename(o.file)).sort()).toEqual(Object.keys(KNOWN_501).sort());
    for (const o of answered501) expect(o.png!.message, o.file).toMatch(KNOWN_501[basename(o.file)]);
  });

  it('answers 501 "no pixel data" for stored objects without pixel data (SR, RT plan, waveforms)', () => {
    const without = outcomes.filter((o) => o.png && !o.hasPixelTag);
    expect(without.length).toBeGreaterThan(5);
    for (const o of without) {
      expect(o.png!.status, o.file).toBe(501);
      expect(o.png!.message, o.file).toMatch(/no pixel data/);
    }
  });

  it('draws what DCMTK draws, within one grey level, for every file DCMTK can decode', () => {
    const compared = outcomes.filter((o) => o.dcmtk !== undefined);
    expect(compared.length).toBeGreaterThan(80);
    const differing = compared.filter((o) => typeof o.dcmtk !== 'number' || o.dcmtk > 1);
    expect(
      differing.map((o) => [basename(o.file), o.dcmtk]),
      'files where DCMTK and we disagree',
    ).toEqual(
      compared
        .filter(
          (o) =>
            basename(o.file) in DCMTK_DIFFERS || (typeof o.dcmtk === 'string' && /JPEG 2000/.test(o.dcmtk)),
        )
        .map((o) => [basename(o.file), o.dcmtk]),
    );
    for (const name of Object.keys(DCMTK_DIFFERS))
      expect(
        differing.map((o) => basename(o.file)),
        name,
      ).toContain(name);
    // The JPEG family really was compared, not skipped.
    for (const name of [
      'JPGExtended.dcm',
      'SC_rgb_dcmtk_+eb+cy+np.dcm',
      'SC_rgb_jpeg_gdcm.dcm',
      'MR_small_jpeg_ls_lossless.dcm',
    ])
      expect(compared.find((o) => basename(o.file) === name)?.dcmtk, name).toBeLessThanOrEqual(1);
  });

  for (const group of SAME_PIXELS)
    it(`renders the same pixels: ${group.name}`, () => {
      const [reference, ...others] = group.renders;
      expect(renders.has(reference), reference).toBe(true);
      for (const other of others) {
        expect(renders.has(other), other).toBe(true);
        expect(renders.get(other)!.equals(renders.get(reference)!), `${other} vs ${reference}`).toBe(true);
      }
    });
});

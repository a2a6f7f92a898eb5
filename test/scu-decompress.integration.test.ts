/**
 * Sending compressed instances to peers that refuse compression: real files from Debian's python3-pydicom
 * (JPEG baseline, JPEG lossless, JPEG-LS, JPEG 2000, RLE, deflated) go to DCMTK storescp accepting only
 * uncompressed syntaxes, arrive decompressed (as dcmdump reads them) with the pixels of their uncompressed
 * copies or, where the set has none, the pixels rendering decodes; a peer that accepts the stored syntax
 * gets the stored bytes; a file that cannot be decoded fails alone.
 */
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeFiles, type StoreResult } from '../src/dimse/scu/store-scu.js';
import { readStoredFile } from '../src/dimse/scu/stored-files.js';
import { parseHeader } from '../src/dicom/header.js';
import { TransferSyntax } from '../src/dicom/transfer-syntax.js';
import { initCodecs, pixelSource } from '../src/render/pixels.js';
import { dcmtk } from './helpers/dcmtk.js';
import { startStorescp, type RunningStorescp } from './helpers/peers.js';

const DATA = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
let dir: string;
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-decompress-'));
  await initCodecs();
});
afterAll(async () => {
  for (const stop of stops) await stop();
  await rm(dir, { recursive: true, force: true });
});

async function peer(args: string[]): Promise<RunningStorescp> {
  const p = await startStorescp(dir, { args: ['+B', ...args] }); // bit-preserving: files as received
  stops.push(p.stop);
  return p;
}

/** Sends the pydicom files over one association; answers the results and the files that arrived. */
async function send(
  p: RunningStorescp,
  names: string[],
): Promise<{ results: StoreResult[]; received: string[] }> {
  const before = new Set(await readdir(p.out));
  const files = await Promise.all(names.map((n) => readStoredFile(join(DATA, n))));
  const results = await storeFiles(
    { host: '127.0.0.1', port: p.port, calledAe: p.aeTitle, callingAe: 'SLUICE' },
    files,
  );
  const received = (await readdir(p.out)).filter((n) => !before.has(n)).map((n) => join(p.out, n));
  return { results, received };
}

/** Transfer syntax and photometric interpretation as DCMTK reads them. */
async function dump(path: string): Promise<{ ts: string; photometric: string }> {
  const r = await dcmtk('dcmdump', ['+P', '0002,0010', '+P', '0028,0004', path]);
  expect(r.code, r.stderr).toBe(0);
  const [ts, photometric] = r.stdout.trim().split('\n');
  return { ts: /=(\w+)/.exec(ts)![1], photometric: /\[(.*)\]/.exec(photometric)![1] };
}

/** All frames, decoded as rendering decodes them. */
function pixels(file: Buffer): Buffer {
  const source = pixelSource(file, parseHeader(file));
  const m = source.module;
  const frameBytes = (m.rows * m.columns * m.samplesPerPixel * m.bitsAllocated) / 8;
  return Buffer.concat(
    Array.from({ length: m.numberOfFrames }, (_, i) => source.frame(i).bytes.subarray(0, frameBytes)),
  );
}
const pixelsOf = async (path: string) => pixels(await readFile(path));

describe('sending compressed instances to a peer that accepts only uncompressed syntaxes', () => {
  it.each([
    // stored file, what must arrive: its uncompressed copy's pixels, or (none) what rendering decodes
    ['SC_rgb_dcmtk_+eb+cy+np.dcm', undefined, 'RGB'], // JPEG baseline YBR_FULL_422
    ['SC_rgb_jpeg_gdcm.dcm', undefined, 'RGB'], // JPEG lossless
    ['MR_small_jpeg_ls_lossless.dcm', 'MR_small.dcm', 'MONOCHROME2'], // JPEG-LS
    ['GDCMJ2K_TextGBR.dcm', undefined, 'RGB'], // JPEG 2000 lossless, YBR_RCT
    ['MR_small_jp2klossless.dcm', 'MR_small.dcm', 'MONOCHROME2'],
    ['rtdose_rle.dcm', 'rtdose.dcm', 'MONOCHROME2'], // RLE, 15 frames of 32 bits
    ['image_dfl.dcm', undefined, 'MONOCHROME2'], // deflated
  ])('%s arrives in explicit VR little endian', async (name, uncompressed, photometric) => {
    const p = await sharedPeer();
    const { results, received } = await send(p, [name]);
    expect(results.map((r) => r.status)).toEqual([0]);
    expect(received).toHaveLength(1);
    expect(await dump(received[0])).toEqual({ ts: 'LittleEndianExplicit', photometric });
    const expected = await pixelsOf(join(DATA, uncompressed ?? name));
    expect((await pixelsOf(received[0])).equals(expected)).toBe(true);
  });

  it('decompresses to implicit VR little endian for a peer that accepts only that', async () => {
    const p = await peer(['+xi']);
    // Each stored file, and whose pixels must arrive: JPEG baseline as rendering decodes it, RLE lossless.
    const expected = new Map([
      ['SC_rgb_jpeg_dcmtk.dcm', 'SC_rgb_jpeg_dcmtk.dcm'],
      ['rtdose_rle.dcm', 'rtdose.dcm'],
    ]);
    const bySop = new Map<string, string>();
    for (const [name, pixelsFrom] of expected)
      bySop.set(parseHeader(await readFile(join(DATA, name))).sopInstanceUid, pixelsFrom);
    const { results, received } = await send(p, [...expected.keys()]);
    expect(results.map((r) => r.status)).toEqual([0, 0]);
    expect(received).toHaveLength(2);
    for (const path of received) {
      expect((await dump(path)).ts).toBe('LittleEndianImplicit');
      const pixelsFrom = bySop.get(parseHeader(await readFile(path)).sopInstanceUid)!;
      expect((await pixelsOf(path)).equals(await pixelsOf(join(DATA, pixelsFrom)))).toBe(true);
    }
  });

  it('fails an instance it cannot decode with the reason, and sends the others', async () => {
    const p = await sharedPeer();
    const broken = 'JPEG2000-embedded-sequence-delimiter.dcm';
    const { results, received } = await send(p, [broken, 'MR_small_RLE.dcm']);
    expect(results[0]).toMatchObject({
      status: -1,
      comment: expect.stringMatching(
        new RegExp(
          `^cannot decompress ${TransferSyntax.Jpeg2000.replace(/\./g, '\\.')} to ${TransferSyntax.ExplicitVRLittleEndian.replace(/\./g, '\\.')} for STORESCP@127\\.0\\.0\\.1:${p.port}, which refuses SOP class [\\d.]+ in [\\d.]+: frame 1 of 1: .*cannot be decoded`,
        ),
      ),
    });
    expect(results[1].status).toBe(0);
    expect(received).toHaveLength(1);
  });
});

describe('sending to a peer that accepts the stored compressed syntax', () => {
  it('sends the stored bytes unchanged, and decompresses only what the peer refuses', async () => {
    const p = await peer(['+xy']); // JPEG baseline and uncompressed; no RLE
    const { results, received } = await send(p, ['SC_rgb_jpeg_dcmtk.dcm', 'MR_small_RLE.dcm']);
    expect(results.map((r) => r.status)).toEqual([0, 0]);
    const datasetOf = (b: Buffer) => b.subarray(144 + b.readUInt32LE(140));
    const stored = await readFile(join(DATA, 'SC_rgb_jpeg_dcmtk.dcm'));
    const files = await Promise.all(received.map((path) => readFile(path)));
    const jpeg = files.find((f) => parseHeader(f).transferSyntaxUid === TransferSyntax.JpegBaseline);
    expect(jpeg && datasetOf(jpeg).equals(datasetOf(stored))).toBe(true);
    const rle = files.find((f) => f !== jpeg)!;
    expect(parseHeader(rle).transferSyntaxUid).toBe(TransferSyntax.ExplicitVRLittleEndian);
  });
});

let shared: Promise<RunningStorescp> | undefined;
/** One uncompressed-only storescp (DCMTK's default) for the tests that need nothing else. */
const sharedPeer = () => (shared ??= peer([]));

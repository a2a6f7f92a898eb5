/**
 * Rendering through the real engine and HTTP: windowing on synthetic ramps whose every grey level is known,
 * Rescale Slope/Intercept, MONOCHROME1, frame selection, scaling, image information, thumbnails and their
 * disk cache, and the 404/400/501 answers.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { makeImage, ramp } from './fixtures/render-fixtures.js';
import { newUid } from './fixtures/dicom-fixtures.js';
import { decodePng } from './helpers/png.js';

let engine: TestEngine;

beforeAll(async () => {
  engine = await startTestEngine();
});
afterAll(async () => engine?.cleanup());

async function store(file: Buffer): Promise<{ id: number; seriesId: number }> {
  const r = await engine.api('/api/images', { method: 'POST', body: new Uint8Array(file) });
  expect(r.status).toBe(201);
  return (await r.json()) as { id: number; seriesId: number };
}

/** GETs a PNG and decodes it: size, channels and the raw samples. */
async function png(path: string) {
  const r = await engine.api(path);
  expect(r.status, await r.clone().text()).toBe(200);
  expect(r.headers.get('content-type')).toBe('image/png');
  return decodePng(Buffer.from(await r.arrayBuffer()));
}

/** The first row's grey levels of a single-channel render. */
const firstRow = (p: { data: Buffer; width: number; channels: number }) =>
  Array.from({ length: p.width }, (_, x) => p.data[x * p.channels]);

const identity = Array.from({ length: 256 }, (_, i) => i);

describe('GET /api/images/{id}/png windowing', () => {
  // Stored 16·i in column i (0..4080), modality value 16·i − 1024.
  const ctRamp = (extra: Record<string, unknown> = {}, photometricInterpretation = 'MONOCHROME2') =>
    makeImage({
      rows: 2,
      columns: 256,
      pixels: ramp(Uint16Array, 2, 256, (i) => 16 * i),
      bitsStored: 12,
      photometricInterpretation,
      extra: { RescaleSlope: '1', RescaleIntercept: '-1024', ...extra },
    });

  it('maps windowmin..windowmax onto 0..255 in modality units', async () => {
    const { id } = await store(ctRamp());
    const p = await png(`/api/images/${id}/png?windowmin=-1024&windowmax=3056`);
    expect([p.width, p.height, p.channels]).toEqual([256, 2, 1]);
    expect(firstRow(p)).toEqual(identity);
  });

  it('centres the window at (min + max) / 2, not at (max − min) / 2 as Slicebox did', async () => {
    const { id } = await store(ctRamp());
    // Columns 100..140 hold 576..1216: centre 896 is column 120.
    const row = firstRow(await png(`/api/images/${id}/png?windowmin=576&windowmax=1216`));
    expect(row.slice(0, 101).every((v) => v === 0)).toBe(true);
    expect(row[110]).toBe(64); // (−160 / 640 + 0.5) · 255 = 63.75
    expect(row[120]).toBe(128); // 127.5, rounded
    expect(row[130]).toBe(191); // 191.25
    expect(row.slice(140).every((v) => v === 255)).toBe(true);
  });

  it("uses the file's WindowCenter/Width with DICOM's LINEAR function when no window is asked for", async () => {
    const { id } = await store(ctRamp({ WindowCenter: '896', WindowWidth: '641' }));
    const row = firstRow(await png(`/api/images/${id}/png`));
    // LINEAR: x <= c − 0.5 − (w − 1)/2 = 575.5 → 0; x > c − 0.5 + (w − 1)/2 = 1215.5 → 255.
    expect(row[99]).toBe(0);
    expect(row[100]).toBe(0); // 576 is inside, at (576 − 895.5)/640 + 0.5 = 0.00078 → 0
    expect(row[120]).toBe(128); // (896 − 895.5)/640 + 0.5 → 127.7
    expect(row[140]).toBe(255);
    expect(row[139]).toBe(249); // (1200 − 895.5)/640 + 0.5 → 248.8
  });

  it('falls back to the pixel range when neither the request nor the file has a window', async () => {
    const { id } = await store(ctRamp());
    expect(firstRow(await png(`/api/images/${id}/png`))).toEqual(identity);
  });

  it('applies Rescale Slope and Intercept before the window', async () => {
    const { id } = await store(
      makeImage({
        rows: 1,
        columns: 256,
        pixels: ramp(Uint16Array, 1, 256, (i) => i),
        extra: { RescaleSlope: '32', RescaleIntercept: '-1000' },
      }),
    );
    // Modality value 32·i − 1000.
    expect(firstRow(await png(`/api/images/${id}/png?windowmin=-1000&windowmax=7160`))).toEqual(identity);
    const r = await engine.api(`/api/images/${id}/imageinformation`);
    expect(await r.json()).toEqual({
      numberOfFrames: 1,
      frameIndex: 1,
      minimumPixelValue: -1000,
      maximumPixelValue: 7160,
    });
  });

  it('reads signed samples', async () => {
    const { id } = await store(
      makeImage({ rows: 1, columns: 256, pixels: ramp(Int16Array, 1, 256, (i) => i - 128) }),
    );
    expect(firstRow(await png(`/api/images/${id}/png?windowmin=-128&windowmax=127`))).toEqual(identity);
  });

  it('inverts MONOCHROME1 (low values white)', async () => {
    const { id } = await store(ctRamp({}, 'MONOCHROME1'));
    const row = firstRow(await png(`/api/images/${id}/png?windowmin=-1024&windowmax=3056`));
    expect(row).toEqual(identity.map((i) => 255 - i));
  });
});

describe('frames, scaling and colour', () => {
  let multiFrame: { id: number };
  beforeAll(async () => {
    // Four 8×8 frames, frame k holding 1000·k everywhere.
    const pixels = new Uint16Array(4 * 64);
    for (let k = 0; k < 4; k++) pixels.fill(1000 * (k + 1), k * 64, (k + 1) * 64);
    multiFrame = await store(makeImage({ rows: 8, columns: 8, frames: 4, pixels }));
  });

  it('renders the frame asked for, the first by default', async () => {
    const grey = async (query: string) =>
      (await png(`/api/images/${multiFrame.id}/png?windowmin=0&windowmax=4000${query}`)).data[0];
    expect(await grey('')).toBe(64); // 1000/4000 · 255 = 63.75
    expect(await grey('&framenumber=1')).toBe(64);
    expect(await grey('&framenumber=2')).toBe(128);
    expect(await grey('&framenumber=3')).toBe(191);
    expect(await grey('&framenumber=4')).toBe(255);
  });

  it('answers 400 for a frame out of range, naming framenumber and the frame count', async () => {
    for (const frame of ['0', '5']) {
      const r = await engine.api(`/api/images/${multiFrame.id}/png?framenumber=${frame}`);
      expect(r.status).toBe(400);
      const text = await r.text();
      expect(text).toMatch(/framenumber/);
      if (frame === '5') expect(text).toMatch(/4 frames/);
    }
  });

  it('reports frames and the pixel range over all frames', async () => {
    const r = await engine.api(`/api/images/${multiFrame.id}/imageinformation`);
    expect(await r.json()).toEqual({
      numberOfFrames: 4,
      frameIndex: 1,
      minimumPixelValue: 1000,
      maximumPixelValue: 4000,
    });
  });

  it('keeps the aspect ratio when scaling to imageheight', async () => {
    const { id } = await store(
      makeImage({ rows: 64, columns: 128, pixels: ramp(Uint16Array, 64, 128, (i) => i * 10) }),
    );
    const native = await png(`/api/images/${id}/png`);
    expect([native.width, native.height]).toEqual([128, 64]);
    const smaller = await png(`/api/images/${id}/png?imageheight=32`);
    expect([smaller.width, smaller.height]).toEqual([64, 32]);
    const larger = await png(`/api/images/${id}/png?imageheight=100`);
    expect([larger.width, larger.height]).toEqual([200, 100]);
  });

  it('renders RGB as three channels', async () => {
    const pixels = new Uint8Array(4 * 3);
    pixels.set([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]);
    const { id } = await store(
      makeImage({ rows: 2, columns: 2, pixels, samplesPerPixel: 3, photometricInterpretation: 'RGB' }),
    );
    const p = await png(`/api/images/${id}/png`);
    expect(p.channels).toBe(3);
    expect(Array.from(p.data)).toEqual(Array.from(pixels));
  });

  it('renders PALETTE COLOR through its lookup tables, clamping values outside them', async () => {
    // Stored 10..13 and 99; the tables map 10 (first mapped) to 13 (16-bit entries, the high byte counts).
    const table = (values: number[]) => new Uint16Array(values.map((v) => v * 257)).buffer;
    const { id } = await store(
      makeImage({
        rows: 1,
        columns: 5,
        pixels: new Uint8Array([10, 11, 12, 13, 99]),
        photometricInterpretation: 'PALETTE COLOR',
        extra: {
          RedPaletteColorLookupTableDescriptor: [4, 10, 16],
          GreenPaletteColorLookupTableDescriptor: [4, 10, 16],
          BluePaletteColorLookupTableDescriptor: [4, 10, 16],
          RedPaletteColorLookupTableData: table([255, 0, 0, 40]),
          GreenPaletteColorLookupTableData: table([0, 255, 0, 50]),
          BluePaletteColorLookupTableData: table([0, 0, 255, 60]),
        },
        vrMap: Object.fromEntries(
          ['Red', 'Green', 'Blue'].flatMap((c) => [
            [`${c}PaletteColorLookupTableDescriptor`, 'US'],
            [`${c}PaletteColorLookupTableData`, 'OW'],
          ]),
        ),
      }),
    );
    const p = await png(`/api/images/${id}/png`);
    expect(p.channels).toBe(3);
    expect(Array.from(p.data)).toEqual([255, 0, 0, 0, 255, 0, 0, 0, 255, 40, 50, 60, 40, 50, 60]);
  });
});

describe('errors', () => {
  it('answers 404 for an unknown image, on both routes', async () => {
    expect((await engine.api('/api/images/987654/png')).status).toBe(404);
    expect((await engine.api('/api/images/987654/imageinformation')).status).toBe(404);
  });

  it('answers 400 naming the parameter for bad query values', async () => {
    const { id } = await store(makeImage({ rows: 2, columns: 2, pixels: new Uint16Array(4) }));
    const cases: Array<[string, RegExp]> = [
      ['framenumber=abc', /framenumber/],
      ['imageheight=-5', /imageheight/],
      ['imageheight=100000', /imageheight/],
      ['windowmin=low&windowmax=10', /windowmin/],
      ['windowmin=10&windowmax=5', /windowmax .* greater than windowmin/],
    ];
    for (const [query, message] of cases) {
      const r = await engine.api(`/api/images/${id}/png?${query}`);
      expect(r.status, query).toBe(400);
      expect(await r.text(), query).toMatch(message);
    }
  });

  it('answers 501 with the reason for a photometric interpretation it cannot render', async () => {
    const { id } = await store(
      makeImage({
        rows: 2,
        columns: 2,
        pixels: new Uint8Array(4 * 3),
        samplesPerPixel: 3,
        photometricInterpretation: 'HSV',
      }),
    );
    const r = await engine.api(`/api/images/${id}/png`);
    expect(r.status).toBe(501);
    expect(r.headers.get('x-sluice-error')).toBe('RENDER.UNSUPPORTED');
    expect(await r.text()).toMatch(/photometric interpretation HSV cannot be rendered/);
    expect((await engine.api(`/api/images/${id}/imageinformation`)).status).toBe(501);
  });
});

describe('GET /api/series/{id}/thumbnail', () => {
  /** A series whose instance n is a flat image of value 100·n (8×16, so the thumbnail is 128×64). */
  async function series(numbers: number[], uids = { study: newUid(), series: newUid() }) {
    let seriesId = 0;
    for (const n of numbers) {
      const image = await store(
        makeImage({
          rows: 8,
          columns: 16,
          pixels: new Uint16Array(128).fill(100 * n),
          studyInstanceUid: uids.study,
          seriesInstanceUid: uids.series,
          instanceNumber: n,
          extra: { WindowCenter: '500', WindowWidth: '1000' },
        }),
      );
      seriesId = image.seriesId;
    }
    return { seriesId, uids };
  }
  const cached = async (seriesId: number) => readdir(join(engine.dataDir, 'thumbnails', String(seriesId)));

  it('renders the middle image by InstanceNumber at 128 px and caches it on disk', async () => {
    const { seriesId } = await series([5, 1, 4, 2, 3]);
    const p = await png(`/api/series/${seriesId}/thumbnail`);
    expect([p.width, p.height]).toEqual([128, 64]);
    // Instance 3: value 300 in the window 0..1000 (LINEAR) → 76.7.
    expect(p.data[0]).toBe(77);
    const files = await cached(seriesId);
    expect(files).toHaveLength(1);
    const file = join(engine.dataDir, 'thumbnails', String(seriesId), files[0]);
    const before = await stat(file);
    await png(`/api/series/${seriesId}/thumbnail`);
    expect((await stat(file)).mtimeMs).toBe(before.mtimeMs);
  });

  it('renders anew when the series changes its middle image, and drops the old thumbnail', async () => {
    const { seriesId, uids } = await series([1, 2, 3]);
    expect((await png(`/api/series/${seriesId}/thumbnail`)).data[0]).toBe(51); // instance 2: 200 → 51.1
    const first = await cached(seriesId);
    await series([4, 5], uids); // now 1..5: the middle is instance 3
    expect((await png(`/api/series/${seriesId}/thumbnail`)).data[0]).toBe(77);
    const second = await cached(seriesId);
    expect(second).toHaveLength(1);
    expect(second[0]).not.toBe(first[0]);
  });

  it('answers 404 for an unknown series', async () => {
    expect((await engine.api('/api/series/987654/thumbnail')).status).toBe(404);
  });
});

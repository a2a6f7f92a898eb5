/**
 * WADO-RS (PS3.18 10.4): studies, series and instances as `multipart/related; type="application/dicom"`
 * (stored bytes streamed from the blob store; another transfer syntax through `Accept`: decompressed in the
 * render workers, or re-encoded between explicit and implicit VR little endian; explicit VR little endian
 * when none is named, as the standard says, `transfer-syntax=*` for the stored one), `/metadata` (DICOM
 * JSON, binary values as bulk data URIs), `/frames/{n}` (uncompressed, or compressed as stored), `/bulk/{tag}`,
 * and `/rendered` and `/thumbnail` as PNG through the renderer.
 */
import type { Context } from 'hono';
import { Hono } from 'hono';
import { stream as honoStream } from 'hono/streaming';
import type { AuthEnv } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { BadRequestError, NotFoundError, SluiceError } from '../../errors.js';
import { parseHeader, type DicomHeader } from '../../dicom/header.js';
import { buildFileMeta, splitPart10 } from '../../dicom/part10.js';
import { TransferSyntax } from '../../dicom/transfer-syntax.js';
import { explicitToImplicitLittleEndian } from '../../dicom/implicit-vr.js';
import { implicitToExplicitLittleEndian } from '../../dicom/explicit-vr.js';
import { DatasetWalker } from '../../dicom/walker.js';
import { PIXEL_DATA } from '../../dicom/vr.js';
import { needsDecompression } from '../../render/transcode.js';
import { pixelSource, type PixelSource } from '../../render/pixels.js';
import { THUMBNAIL_SIZE } from '../../render/service.js';
import { readStored, readStoredHeader, storedObject, withLocalFile } from '../../storage/stored-object.js';
import { MAX_IMAGE_HEIGHT } from '../routes/render.js';
import { covers, frameMediaType, MultipartWriter, parseAccept } from './media.js';
import { datasetJson, type DicomJson } from './json.js';
import { baseUrl, checkUid, instancesOf, instanceUrl, type LocatedInstance, type Target } from './locate.js';

const EXPLICIT = TransferSyntax.ExplicitVRLittleEndian;
const IMPLICIT = TransferSyntax.ImplicitVRLittleEndian;

const notAcceptable = (what: string) => new SluiceError('DICOMWEB.NOT_ACCEPTABLE', what, 406);

type Plan = 'stored' | 'decompress' | 'toImplicit' | 'toExplicit';

/** How an instance stored in `stored` becomes `wanted`; undefined when it cannot. */
function planFor(stored: string, wanted: string): Plan | undefined {
  if (wanted === '*' || wanted === stored) return 'stored';
  if (wanted !== EXPLICIT && wanted !== IMPLICIT) return undefined;
  if (needsDecompression(stored)) return 'decompress';
  if (stored === EXPLICIT) return 'toImplicit';
  if (stored === IMPLICIT) return 'toExplicit';
  return undefined;
}

/** An instance as a Part-10 file in another syntax (re-encoded here, or decompressed in a worker). */
/** Decompresses an instance in the render workers, from its stored file (or a local copy of it). */
const decompressed = (deps: ApiDeps, i: LocatedInstance, wanted: string): Promise<Buffer> =>
  withLocalFile(storedObject(deps.blobs, i.sopInstanceUid), (path) =>
    deps.queryRetrieve.services.decompress(path, wanted),
  );

async function converted(deps: ApiDeps, i: LocatedInstance, plan: Plan, wanted: string): Promise<Buffer> {
  if (plan === 'decompress') return decompressed(deps, i, wanted);
  const file = await readStored(deps.blobs, i.sopInstanceUid);
  const { dataset } = splitPart10(file, i.transferSyntaxUid);
  const meta = buildFileMeta({
    sopClassUid: i.sopClassUid,
    sopInstanceUid: i.sopInstanceUid,
    transferSyntaxUid: wanted,
  });
  return Buffer.concat([
    meta,
    plan === 'toImplicit' ? explicitToImplicitLittleEndian(dataset) : implicitToExplicitLittleEndian(dataset),
  ]);
}

async function retrieve(c: Context<AuthEnv>, deps: ApiDeps, target: Target) {
  const instances = await instancesOf(deps, target);
  for (const accepted of parseAccept(c.req.header('accept'))) {
    if (!covers(accepted.mediaType, 'application/dicom')) continue;
    const wanted = accepted.transferSyntax ?? EXPLICIT;
    const plans = instances.map((i) => planFor(i.transferSyntaxUid, wanted));
    if (plans.some((p) => !p)) continue;
    const writer = new MultipartWriter('application/dicom');
    c.header('Content-Type', writer.contentType);
    return honoStream(c, async (out) => {
      for (const [n, instance] of instances.entries()) {
        const plan = plans[n]!;
        const ts = plan === 'stored' ? instance.transferSyntaxUid : wanted;
        await out.write(writer.partHeader(`application/dicom; transfer-syntax=${ts}`));
        if (plan === 'stored') {
          const { stream } = await deps.blobs.open(instance.sopInstanceUid);
          for await (const chunk of stream) await out.write(chunk as Uint8Array);
        } else await out.write(await converted(deps, instance, plan, wanted));
      }
      await out.write(writer.end());
    });
  }
  throw notAcceptable(
    'none of the media types and transfer syntaxes in Accept can be given: application/dicom is served as stored (transfer-syntax=*), in explicit or implicit VR little endian, or decompressed to them',
  );
}

async function metadata(c: Context<AuthEnv>, deps: ApiDeps, target: Target) {
  const base = baseUrl(c, deps.publicUrl);
  const out: DicomJson[] = [];
  for (const instance of await instancesOf(deps, target)) {
    const { header } = await readStoredHeader(deps.blobs, instance.sopInstanceUid);
    const url = instanceUrl(base, instance);
    const json = datasetJson(header.dataset, (tag) => `${url}/bulk/${tag}`);
    json['00083002'] = { vr: 'UI', Value: [instance.transferSyntaxUid] };
    if (header.pixelDataOffset >= 0) {
      const bits = Number(header.dataset['00280100']?.Value?.[0] ?? 16);
      json['7FE00010'] = { vr: bits > 8 ? 'OW' : 'OB', BulkDataURI: `${url}/bulk/7FE00010` };
    }
    out.push(Object.fromEntries(Object.entries(json).sort(([a], [b]) => a.localeCompare(b))));
  }
  return c.body(JSON.stringify(out), 200, { 'Content-Type': 'application/dicom+json' });
}

/** `1,3,5` → [1, 3, 5] (1-based, at most 10,000). */
function frameNumbers(list: string): number[] {
  const numbers = list.split(',').map((s) => s.trim());
  if (!numbers.length || numbers.length > 10_000 || numbers.some((n) => !/^[1-9]\d{0,8}$/.test(n)))
    throw new BadRequestError(
      `frames must be a comma-separated list of frame numbers from 1, got "${list.slice(0, 80)}"`,
    );
  return numbers.map(Number);
}

interface Loaded {
  instance: LocatedInstance;
  file: Buffer;
  header: DicomHeader;
  source: PixelSource;
  encapsulated: boolean;
}

async function loadPixels(deps: ApiDeps, target: Target): Promise<Loaded> {
  const [instance] = await instancesOf(deps, target);
  const file = await readStored(deps.blobs, instance.sopInstanceUid);
  const header = parseHeader(file);
  if (
    header.pixelDataOffset < 0 &&
    header.transferSyntaxUid !== TransferSyntax.DeflatedExplicitVRLittleEndian
  )
    throw new NotFoundError(`pixel data of instance ${instance.sopInstanceUid}`);
  const source = pixelSource(file, header);
  const ts = header.transferSyntaxUid;
  return {
    instance,
    file,
    header,
    source,
    encapsulated: needsDecompression(ts) && ts !== TransferSyntax.DeflatedExplicitVRLittleEndian,
  };
}

function checkFrames(loaded: Loaded, numbers: number[]): void {
  const count = loaded.source.module.numberOfFrames;
  const missing = numbers.find((n) => n > count);
  if (missing)
    throw new NotFoundError(
      `frame ${missing} of instance ${loaded.instance.sopInstanceUid}, which has ${count}`,
    );
}

/** Writes parts of one media type as a multipart/related response. */
function multipart(
  c: Context<AuthEnv>,
  type: string,
  parts: Array<{ contentType: string; bytes: Uint8Array }>,
) {
  const writer = new MultipartWriter(type);
  const chunks: Uint8Array[] = [];
  for (const part of parts) chunks.push(writer.partHeader(part.contentType), part.bytes);
  chunks.push(writer.end());
  const body = Buffer.concat(chunks);
  return c.body(body, 200, { 'Content-Type': writer.contentType, 'Content-Length': String(body.length) });
}

async function frames(c: Context<AuthEnv>, deps: ApiDeps, target: Target, list: string) {
  const numbers = frameNumbers(list);
  const loaded = await loadPixels(deps, target);
  checkFrames(loaded, numbers);
  const stored = loaded.header.transferSyntaxUid;
  for (const accepted of parseAccept(c.req.header('accept'))) {
    const ts = accepted.transferSyntax;
    const compressedType = frameMediaType(stored);
    if (
      loaded.encapsulated &&
      accepted.mediaType !== 'application/octet-stream' &&
      covers(accepted.mediaType, compressedType) &&
      (!ts || ts === '*' || ts === stored)
    ) {
      const contentType = `${compressedType}; transfer-syntax=${stored}`;
      return multipart(
        c,
        compressedType,
        numbers.map((n) => ({ contentType, bytes: loaded.source.encodedFrame(n - 1)! })),
      );
    }
    if (covers(accepted.mediaType, 'application/octet-stream') && (!ts || ts === '*' || ts === EXPLICIT)) {
      let source = loaded.source;
      if (loaded.encapsulated) {
        const decoded = await decompressed(deps, loaded.instance, EXPLICIT);
        source = pixelSource(decoded, parseHeader(decoded));
      }
      const contentType = `application/octet-stream; transfer-syntax=${EXPLICIT}`;
      return multipart(
        c,
        'application/octet-stream',
        numbers.map((n) => ({ contentType, bytes: source.frame(n - 1).bytes })),
      );
    }
  }
  throw notAcceptable(
    `frames are served uncompressed (application/octet-stream) or as stored (${frameMediaType(stored)}; transfer-syntax=${stored})`,
  );
}

async function bulk(c: Context<AuthEnv>, deps: ApiDeps, target: Target, tagText: string) {
  if (!/^[0-9A-Fa-f]{8}$/.test(tagText))
    throw new BadRequestError(`bulk data tag must be eight hex digits, got "${tagText.slice(0, 20)}"`);
  const tag = parseInt(tagText, 16);
  const [instance] = await instancesOf(deps, target);
  const file = await readStored(deps.blobs, instance.sopInstanceUid);
  const part10 = splitPart10(file, instance.transferSyntaxUid);
  const { elements } = new DatasetWalker(part10.dataset, part10.explicit, part10.littleEndian).elements(
    0,
    part10.dataset.length,
    0,
  );
  const element = elements.find((e) => e.tag === tag);
  if (!element || element.items)
    throw new NotFoundError(`bulk data ${tagText} of instance ${instance.sopInstanceUid}`);
  if (tag === PIXEL_DATA && element.undefinedLength) {
    const header = parseHeader(file);
    const source = pixelSource(file, header);
    const type = frameMediaType(header.transferSyntaxUid);
    const contentType = `${type}; transfer-syntax=${header.transferSyntaxUid}`;
    const parts = Array.from({ length: source.module.numberOfFrames }, (_, i) => ({
      contentType,
      bytes: source.encodedFrame(i)!,
    }));
    return multipart(c, type, parts);
  }
  const bytes = part10.dataset.subarray(element.start + element.headerLength, element.end);
  return multipart(c, 'application/octet-stream', [{ contentType: 'application/octet-stream', bytes }]);
}

function renderer(deps: ApiDeps) {
  if (!deps.renderer)
    throw new SluiceError('RENDER.UNAVAILABLE', 'rendering is not configured in this process', 503);
  return deps.renderer;
}

function checkAcceptsPng(c: Context<AuthEnv>): void {
  if (!parseAccept(c.req.header('accept')).some((a) => covers(a.mediaType, 'image/png')))
    throw notAcceptable('rendered images are served as image/png');
}

const numbersParam = (name: string, value: string | undefined, count: number): number[] | undefined => {
  if (value === undefined) return undefined;
  const parts = value
    .split(',')
    .slice(0, count)
    .map((p) => Number(p.trim()));
  if (parts.length < count || parts.some((n) => !Number.isFinite(n)))
    throw new BadRequestError(
      `${name} must be ${count} comma-separated numbers, got "${value.slice(0, 60)}"`,
    );
  return parts;
};

/** `/rendered`: one frame as PNG, with the `window` (center,width) and `viewport` (width,height) asked for. */
async function rendered(c: Context<AuthEnv>, deps: ApiDeps, target: Target, frame: number) {
  checkAcceptsPng(c);
  const [instance] = await instancesOf(deps, target);
  const windowParam = numbersParam('window', c.req.query('window'), 2);
  let window: { min: number; max: number } | undefined;
  if (windowParam) {
    const [center, width] = windowParam;
    if (!(width > 0)) throw new BadRequestError('window width must be greater than 0');
    window = { min: center - width / 2, max: center + width / 2 };
  }
  const viewport = numbersParam('viewport', c.req.query('viewport'), 2);
  const height = viewport ? Math.round(viewport[1]) : undefined;
  if (height !== undefined && (height < 1 || height > MAX_IMAGE_HEIGHT))
    throw new BadRequestError(`viewport height must be 1 to ${MAX_IMAGE_HEIGHT}`);
  const { png } = await renderer(deps).png(instance.imageId, { frame, window, height });
  return png;
}

const pngResponse = (c: Context<AuthEnv>, png: Uint8Array) =>
  c.body(png as Uint8Array<ArrayBuffer>, 200, {
    'Content-Type': 'image/png',
    'Content-Length': String(png.length),
  });

/** The thumbnail of an instance (its middle frame), a series (its middle image) or a study (its first series). */
async function thumbnail(c: Context<AuthEnv>, deps: ApiDeps, target: Target) {
  checkAcceptsPng(c);
  if (target.instance) {
    const [instance] = await instancesOf(deps, target);
    return pngResponse(
      c,
      (await renderer(deps).png(instance.imageId, { frame: 'middle', box: THUMBNAIL_SIZE })).png,
    );
  }
  const keys = [
    { keyword: 'StudyInstanceUID', matcher: { kind: 'single' as const, value: checkUid(target.study) } },
  ];
  if (target.series)
    keys.push({ keyword: 'SeriesInstanceUID', matcher: { kind: 'single', value: checkUid(target.series) } });
  const [series] = await deps.index.find({
    level: 'SERIES',
    keys,
    returns: [],
    caseInsensitiveNames: false,
    limit: 1,
  });
  if (!series) throw new NotFoundError(target.series ? `series ${target.series}` : `study ${target.study}`);
  return pngResponse(c, await renderer(deps).thumbnail(series.id));
}

export function wadoRoutes(deps: ApiDeps): Hono<AuthEnv> {
  const study = (c: Context<AuthEnv>): Target => ({ study: c.req.param('study')! });
  const series = (c: Context<AuthEnv>): Target => ({ ...study(c), series: c.req.param('series')! });
  const instance = (c: Context<AuthEnv>): Target => ({ ...series(c), instance: c.req.param('instance')! });
  const I = '/studies/:study/series/:series/instances/:instance';
  return new Hono<AuthEnv>()
    .get('/studies/:study', (c) => retrieve(c, deps, study(c)))
    .get('/studies/:study/metadata', (c) => metadata(c, deps, study(c)))
    .get('/studies/:study/thumbnail', (c) => thumbnail(c, deps, study(c)))
    .get('/studies/:study/series/:series', (c) => retrieve(c, deps, series(c)))
    .get('/studies/:study/series/:series/metadata', (c) => metadata(c, deps, series(c)))
    .get('/studies/:study/series/:series/thumbnail', (c) => thumbnail(c, deps, series(c)))
    .get(I, (c) => retrieve(c, deps, instance(c)))
    .get(`${I}/metadata`, (c) => metadata(c, deps, instance(c)))
    .get(`${I}/thumbnail`, (c) => thumbnail(c, deps, instance(c)))
    .get(`${I}/rendered`, async (c) => pngResponse(c, await rendered(c, deps, instance(c), 1)))
    .get(`${I}/frames/:frames`, (c) => frames(c, deps, instance(c), c.req.param('frames')))
    .get(`${I}/frames/:frames/rendered`, async (c) => {
      const numbers = frameNumbers(c.req.param('frames'));
      if (numbers.length !== 1) throw new BadRequestError('a rendered frame is one frame number');
      return pngResponse(c, await rendered(c, deps, instance(c), numbers[0]));
    })
    .get(`${I}/bulk/:tag`, (c) => bulk(c, deps, instance(c), c.req.param('tag')));
}

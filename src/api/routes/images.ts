import { deleteStoredImages } from '../../storage/stored-images.js';
import { Readable } from 'node:stream';
import { Hono } from 'hono';
import { stream as honoStream } from 'hono/streaming';
import busboy from 'busboy';
import type { ApiDeps } from '../deps.js';
import type { AuthEnv } from '../auth.js';
import { idParam, jsonBody, parseOr400 } from '../params.js';
import { BadRequestError, NotFoundError } from '../../errors.js';
import type { Origin } from '../../pipeline/origin.js';
import type { Outcome } from '../../pipeline/outcome.js';
import type { Image } from '../../storage/metadata-index.js';
import { readStoredHeader } from '../../storage/stored-object.js';
import { imageAttributes } from '../attributes.js';
import { z } from 'zod';

/** Takes one uploaded body into a pipeline and resolves when it is settled. */
export type Upload = (body: Readable, origin: Origin) => Promise<Outcome>;

/** Streams an upload (raw body or multipart part `file`) into `upload`; never buffers it whole. */
export async function uploadFromRequest(
  upload: Upload,
  req: Request,
  origin: Origin,
): Promise<{ outcome: Outcome; filename?: string }> {
  const contentType = req.headers.get('content-type') ?? '';
  if (!req.body) throw new BadRequestError('Request body is empty: send a DICOM Part-10 file');
  const body = Readable.fromWeb(req.body as import('node:stream/web').ReadableStream);
  if (!contentType.toLowerCase().startsWith('multipart/form-data'))
    return { outcome: await upload(body, origin) };
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: { 'content-type': contentType }, limits: { files: 1, fields: 16 } });
    } catch (err) {
      reject(new BadRequestError(`Malformed multipart body: ${(err as Error).message}`));
      return;
    }
    let found = false;
    bb.on('file', (name, file, info) => {
      if (name !== 'file' || found) {
        file.resume();
        return;
      }
      found = true;
      const filename = info.filename;
      upload(file, { ...origin, detail: filename }).then((outcome) => resolve({ outcome, filename }), reject);
    });
    bb.on('error', (err) =>
      reject(new BadRequestError(`Malformed multipart body: ${(err as Error).message}`)),
    );
    bb.on('close', () => {
      if (!found) reject(new BadRequestError('Multipart body has no part named "file"'));
    });
    body.on('error', reject);
    body.pipe(bb);
  });
}

/** The failure statuses an upload answers with as they are; anything else is a 500. */
const UPLOAD_FAILURES = [400, 413, 415, 503, 507] as const;

/**
 * Maps a settled upload to Slicebox's answers: 201 new, 200 overwrite, 400 invalid; and ours: 413 too
 * large, 503 no pipeline to take it, 507 disk full.
 */
export function uploadResponse(
  outcome: Outcome,
  filename?: string,
): { status: 200 | 201 | 204 | (typeof UPLOAD_FAILURES)[number] | 500; body: Image | string | null } {
  if (outcome.kind === 'ack') {
    const indexed = outcome.envelope.facts.indexed;
    if (!indexed) return { status: 204, body: null };
    return { status: indexed.created ? 201 : 200, body: indexed.image };
  }
  if (outcome.kind === 'drop') return { status: 204, body: null };
  const prefix = filename ? `${filename}: ` : '';
  const status = UPLOAD_FAILURES.find((s) => s === outcome.error.httpStatus) ?? 500;
  return { status, body: `${prefix}${outcome.error.message}` };
}

export const idList = z.array(z.number().int().nonnegative()).max(100_000);

export function imagesRoutes(deps: ApiDeps): Hono<AuthEnv> {
  const { index, blobs } = deps;
  const imageOr404 = async (id: number) => {
    const image = await index.image(id);
    if (!image) throw new NotFoundError(`image ${id}`);
    return image;
  };
  const deleteImages = (ids: number[]) => deleteStoredImages(index, blobs, ids);

  return new Hono<AuthEnv>()
    .post('/', async (c) => {
      const user = c.get('user');
      const { outcome, filename } = await uploadFromRequest((b, o) => deps.engine.upload(b, o), c.req.raw, {
        sourceType: 'user',
        sourceId: user.id,
        sourceName: user.user,
      });
      const { status, body } = uploadResponse(outcome, filename);
      // The rest of a refused body is not worth reading: the connection closes after the answer.
      if (status === 413) c.header('Connection', 'close');
      if (body === null) return c.body(null, 204);
      if (typeof body === 'string') return c.text(body, status as 400);
      return c.json(body, status as 200);
    })
    .post('/delete', async (c) => {
      const ids = parseOr400(idList, await jsonBody(c.req), 'body must be a JSON array of image ids');
      await deleteImages(ids);
      return c.body(null, 204);
    })
    .get('/:id', async (c) => {
      const image = await imageOr404(idParam(c.req.param('id')));
      const { stream, size } = await blobs.open(image.sopInstanceUID.value);
      c.header('Content-Type', 'application/octet-stream');
      c.header('Content-Length', String(size));
      return honoStream(c, async (out) => {
        for await (const chunk of stream) await out.write(chunk as Uint8Array);
      });
    })
    .delete('/:id', async (c) => {
      await deleteImages([idParam(c.req.param('id'))]);
      return c.body(null, 204);
    })
    .get('/:id/attributes', async (c) => {
      const image = await imageOr404(idParam(c.req.param('id')));
      const { header } = await readStoredHeader(blobs, image.sopInstanceUID.value);
      return c.json(imageAttributes(header));
    });
}

/**
 * What Slicebox does with images beyond storing and serving their bytes: zip export
 * (`POST /api/images/export`, `GET /api/images/export?id=`), JPEG import as Secondary Capture
 * (`POST /api/images/jpeg`) and attribute modification (`PUT /api/images/{id}/modify`). Mounted before the
 * `/api/images/:id` routes so that `export` is not taken for an id.
 *
 * New and modified instances go through the engine like an upload: landed, stored (fsynced) and indexed
 * by the pipeline before the answer, so a 201 means the object is durable.
 */
import { deleteStoredImages } from '../../storage/stored-images.js';
import { Readable } from 'node:stream';
import { Hono } from 'hono';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import type { AuthEnv } from '../auth.js';
import { idParam, jsonBody, parseOr400, readLimited } from '../params.js';
import { uploadResponse } from './images.js';
import { exportEntries, zipStream } from '../../export/zip.js';
import { BadRequestError, NotFoundError, SluiceError } from '../../errors.js';
import { attr } from '../../dicom/header.js';
import { readStored, readStoredHeader } from '../../storage/stored-object.js';
import { readJpegInfo } from '../../dicom/jpeg.js';
import { secondaryCaptureFromJpeg } from '../../dicom/secondary-capture.js';
import { modifyAttributes, type TagMapping } from '../../dicom/modify.js';
import { tagTreeFromJson } from '../../dicom/tag-path.js';
import type { Origin } from '../../pipeline/origin.js';
import type { Image, Study } from '../../storage/metadata-index.js';

/** JPEGs are read whole (the frame header and the whole image go into one new file). */
export const MAX_JPEG_BYTES = 64 * 1024 * 1024;
const MAX_EXPORT_IMAGES = 100_000;

export const idList = z.array(z.number().int().nonnegative()).max(MAX_EXPORT_IMAGES);
export const tagMappings = z
  .array(z.strictObject({ tagPath: z.unknown(), value: z.string() }))
  .max(1000)
  .describe("Slicebox's TagMapping list: [{tagPath, value}]");

export function imageToolsRoutes(deps: ApiDeps): Hono<AuthEnv> {
  const { index, blobs } = deps;

  return new Hono<AuthEnv>()
    .post('/export', async (c) => {
      const ids = parseOr400(idList, await jsonBody(c.req), 'body must be a JSON array of image ids');
      if (!ids.length) return c.body(null, 204);
      const unique = [...new Set(ids)];
      const found = await Promise.all(unique.map((id) => index.image(id)));
      const missing = unique.filter((_, i) => !found[i]);
      if (missing.length)
        throw new NotFoundError(
          `image${missing.length > 1 ? 's' : ''} ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''}`,
        );
      return c.json({ id: await deps.exportSets.create(ids) });
    })
    .get('/export', async (c) => {
      const id = idParam(c.req.query('id'), 'id');
      const imageIds = await deps.exportSets.imageIds(id);
      if (!imageIds) throw new NotFoundError(`export set ${id} (unknown or expired)`);
      const zip = zipStream(await exportEntries(index, imageIds), blobs);
      return new Response(Readable.toWeb(zip) as ReadableStream, {
        status: 200,
        headers: {
          'Content-Type': 'application/octet-stream',
          'Content-Disposition': 'attachment; filename=slicebox-export.zip',
        },
      });
    })
    .post('/jpeg', async (c) => {
      const studyId = idParam(c.req.query('studyid'), 'studyid');
      const description = c.req.query('description') ?? '';
      if (description.length > 64 || /[\x00-\x1f\x7f\\]/.test(description))
        throw new BadRequestError(
          'description must be at most 64 characters, without control characters or "\\"',
        );
      const study = await index.study(studyId);
      if (!study) throw new NotFoundError(`study ${studyId}`);
      const patient = await index.patient(study.patientId);
      if (!patient) throw new NotFoundError(`patient of study ${studyId}`);
      const jpeg = await readLimited(c.req.raw, MAX_JPEG_BYTES);
      const info = readJpegInfo(jpeg);
      const sc = secondaryCaptureFromJpeg({
        jpeg,
        info,
        patient,
        study,
        seriesDescription: description,
        seriesNumber:
          (await index.list('series', { startIndex: 0, count: 100_000, parentId: study.id })).length + 1,
        ...(await studyAttributesFromFile(deps, study)),
        now: new Date(),
      });
      const user = c.get('user');
      const outcome = await deps.engine.upload(Readable.from([sc.bytes]), {
        sourceType: 'user',
        sourceId: user.id,
        sourceName: user.user,
        detail: 'JPEG import',
      });
      const { status, body } = uploadResponse(outcome);
      if (body === null) return c.body(null, 204);
      if (typeof body === 'string') return c.text(body, status as 400);
      return c.json(body, 201);
    })
    .put('/:id/modify', async (c) => {
      const id = idParam(c.req.param('id'));
      const mappings: TagMapping[] = parseOr400(
        tagMappings,
        await jsonBody(c.req),
        'body must be a JSON array of {tagPath, value}',
      ).map(({ tagPath, value }) => ({ tree: tagTreeFromJson(tagPath), value }));
      const image = await index.image(id);
      if (!image) throw new NotFoundError(`image ${id}`);
      const { bytes } = modifyAttributes(await readImage(deps, image), mappings);

      // What the series carries beyond its images: kept if the modified instance lands in another series.
      const source = await index.seriesSourceWithName?.(image.seriesId);
      const seriesTags = await index.seriesTagsOf(image.seriesId);
      const manualTypes = (await index.seriesTypeAssignments(image.seriesId)).filter((a) => a.manual);
      const origin: Origin = source
        ? { ...source, detail: `modification of image ${id}` }
        : {
            sourceType: 'unknown',
            sourceId: 0,
            sourceName: 'unknown',
            detail: `modification of image ${id}`,
          };

      const outcome = await deps.engine.upload(Readable.from([bytes]), origin);
      if (outcome.kind === 'drop')
        throw new SluiceError(
          'IMAGES.MODIFY_DROPPED',
          `the pipeline dropped the modified instance (${outcome.reason}); image ${id} is unchanged`,
          409,
        );
      const { status, body } = uploadResponse(outcome);
      if (body === null) return c.body(null, 204); // a pipeline without an index sink
      if (typeof body === 'string') return c.text(body, status as 400);
      const modified = body as Image;
      if (modified.seriesId !== image.seriesId) {
        for (const tag of seriesTags) await index.addSeriesTagToSeries(modified.seriesId, tag.name);
        for (const { seriesTypeId } of manualTypes)
          await index.assignSeriesType(modified.seriesId, seriesTypeId);
      }
      // A new SOPInstanceUID is a new image: the old one goes, file first (as DELETE /api/images/{id} does).
      if (modified.id !== image.id) await deleteStoredImages(index, blobs, [image.id]);
      return c.json(modified, 201);
    });
}

/** The stored bytes of an image; 404 when its file is gone. */
const readImage = (deps: ApiDeps, image: Image): Promise<Buffer> =>
  readStored(deps.blobs, image.sopInstanceUID.value);

/**
 * StudyTime and ReferringPhysicianName, which the index does not hold, from a stored instance of the study;
 * empty (type 2) when none can be read.
 */
async function studyAttributesFromFile(
  deps: ApiDeps,
  study: Study,
): Promise<{ studyTime?: string; referringPhysicianName?: string }> {
  const [first] = await deps.index.imagesOfStudy(study.id);
  if (!first) return {};
  try {
    const { header } = await readStoredHeader(deps.blobs, first.sopInstanceUID.value);
    return {
      studyTime: attr(header, 'StudyTime'),
      referringPhysicianName: attr(header, 'ReferringPhysicianName'),
    };
  } catch {
    return {};
  }
}

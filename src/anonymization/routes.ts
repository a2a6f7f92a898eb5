/**
 * Slicebox's `/api/anonymization` routes (options, bulk anonymize, keys with paging, query, CSV export) and
 * its two anonymization routes on images (`PUT /api/images/{id}/anonymize`, `POST /api/images/{id}/anonymized`).
 */
import { Hono } from 'hono';
import { stream as honoStream } from 'hono/streaming';
import { z } from 'zod';
import type { ApiDeps } from '../api/deps.js';
import type { AuthEnv } from '../api/auth.js';
import {
  idParam,
  jsonBody,
  MAX_JSON_BODY,
  pagingParams,
  parseJson,
  parseOr400,
  readLimited,
} from '../api/params.js';
import { BadRequestError, NotFoundError, SluiceError } from '../errors.js';
import { tagValuesFromJson, type AnonymizationService } from './service.js';
import { normalizeOptions } from './deid/profile.js';
import type { AnonymizationKeyValue } from './store.js';
import { parseTagTree, tagTreeToJson } from '../dicom/tag-path.js';

const profileSchema = z.strictObject({
  options: z.array(z.object({ name: z.string() }).passthrough()).describe('Confidentiality options by name'),
});
const tagValueSchema = z.strictObject({ tagPath: z.unknown(), value: z.string() });
export const anonymizationData = z.strictObject({
  profile: profileSchema.default({ options: [] }),
  tagValues: z.array(tagValueSchema).default([]),
});
export const bulkAnonymizationData = z.strictObject({
  profile: profileSchema.default({ options: [] }),
  imageTagValuesSet: z
    .array(
      z.strictObject({
        imageId: z.number().int().nonnegative(),
        tagValues: z.array(tagValueSchema).default([]),
      }),
    )
    .max(100_000),
});
export const keyQuery = z.object({
  startIndex: z.number().int().nonnegative().default(0),
  count: z.number().int().min(0).max(10_000).default(20),
  order: z.object({ orderBy: z.string(), orderAscending: z.boolean().default(true) }).optional(),
  queryProperties: z
    .array(
      z.object({
        propertyName: z.string(),
        operator: z.enum(['=', 'like']),
        propertyValue: z.union([z.string(), z.number()]).transform(String),
      }),
    )
    .default([]),
});
export const listParams = pagingParams.extend({
  orderby: z.string().optional(),
  orderascending: z.enum(['true', 'false']).default('true'),
  filter: z.string().optional(),
});

const optionNames = (profile: z.infer<typeof profileSchema>) =>
  normalizeOptions(
    profile.options.map((o) => o.name),
    'profile.options',
  );

function service(deps: ApiDeps): AnonymizationService {
  if (!deps.anonymization)
    throw new SluiceError('ANONYMIZATION.NOT_WIRED', 'anonymization is not available here', 503);
  return deps.anonymization;
}

function keyStore(deps: ApiDeps) {
  const keys = service(deps).keys;
  if (!keys) throw new SluiceError('ANONYMIZATION.NOT_WIRED', 'anonymization keys are not available', 503);
  return keys;
}

const keyValueJson = (v: AnonymizationKeyValue) => ({
  id: v.id,
  anonymizationKeyId: v.anonymizationKeyId,
  tagPath: tagTreeToJson(parseTagTree(v.tagPath)),
  value: v.value,
  anonymizedValue: v.anonymizedValue,
});

/** CSV field: `;` separated, quoted when needed (Slicebox's delimiter). */
const csvField = (value: string | number) => {
  const s = String(value);
  return /[;"\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};
const CSV_HEADER = [
  'ID',
  'Image ID',
  'Created',
  'Patient Name',
  'Anonymous Patient Name',
  'Patient ID',
  'Anonymous Patient ID',
  'Study Instance UID',
  'Anonymous Study Instance UID',
  'Series Instance UID',
  'Anonymous Series Instance UID',
  'SOP Instance UID',
  'Anonymous SOP Instance UID',
  'Tag Path',
  'Value',
  'Anonymized Value',
];

export function anonymizationRoutes(deps: ApiDeps): Hono<AuthEnv> {
  return new Hono<AuthEnv>()
    .get('/options', (c) => c.json(service(deps).options()))
    .post('/anonymize', async (c) => {
      const body = parseOr400(bulkAnonymizationData, await jsonBody(c.req), 'body (BulkAnonymizationData)');
      const options = optionNames(body.profile);
      const requests = body.imageTagValuesSet.map((entry, i) => ({
        imageId: entry.imageId,
        tagValues: tagValuesFromJson(entry.tagValues, `imageTagValuesSet[${i}].tagValues`),
      }));
      const anonymization = service(deps);
      for (const r of requests)
        if (!(await deps.index.image(r.imageId))) throw new NotFoundError(`image ${r.imageId}`);
      const images = [];
      for (const r of requests)
        images.push(await anonymization.replaceStoredImage(r.imageId, { options, tagValues: r.tagValues }));
      return c.json(images);
    })
    .get('/keys', async (c) => {
      const q = parseOr400(listParams, c.req.query(), 'query');
      return c.json(
        await keyStore(deps).listAnonymizationKeys({
          startIndex: q.startindex,
          count: q.count,
          orderBy: q.orderby,
          orderAscending: q.orderascending === 'true',
          filter: q.filter,
        }),
      );
    })
    .post('/keys/query', async (c) => {
      const q = parseOr400(keyQuery, await jsonBody(c.req), 'body (AnonymizationKeyQuery)');
      return c.json(await keyStore(deps).queryAnonymizationKeys(q));
    })
    .get('/keys/export/csv', (c) => {
      const keys = keyStore(deps);
      c.header('Content-Type', 'text/csv; charset=utf-8');
      c.header('Content-Disposition', 'attachment; filename=slicebox-anonymization-info.csv');
      return honoStream(c, async (out) => {
        await out.write(CSV_HEADER.join(';') + '\r\n');
        // A page of keys at a time: the database is never held while the client reads.
        for (let after = 0; ;) {
          const rows = await keys.anonymizationKeyRows(after, 500);
          if (!rows.length) break;
          let chunk = '';
          for (const r of rows)
            chunk +=
              [
                r.id,
                r.imageId,
                r.created,
                r.patientName,
                r.anonPatientName,
                r.patientID,
                r.anonPatientID,
                r.studyInstanceUID,
                r.anonStudyInstanceUID,
                r.seriesInstanceUID,
                r.anonSeriesInstanceUID,
                r.sopInstanceUID,
                r.anonSOPInstanceUID,
                r.tagPath,
                r.value,
                r.anonymizedValue,
              ]
                .map(csvField)
                .join(';') + '\r\n';
          await out.write(chunk);
          after = rows[rows.length - 1]!.id;
        }
      });
    })
    .get('/keys/:id', async (c) => {
      const id = idParam(c.req.param('id'));
      const key = await keyStore(deps).anonymizationKey(id);
      if (!key) throw new NotFoundError(`anonymization key ${id}`);
      return c.json(key);
    })
    .delete('/keys/:id', async (c) => {
      await keyStore(deps).deleteAnonymizationKey(idParam(c.req.param('id')));
      return c.body(null, 204);
    })
    .get('/keys/:id/keyvalues', async (c) => {
      const id = idParam(c.req.param('id'));
      const keys = keyStore(deps);
      if (!(await keys.anonymizationKey(id))) throw new NotFoundError(`anonymization key ${id}`);
      return c.json((await keys.anonymizationKeyValues(id)).map(keyValueJson));
    });
}

/** `PUT /api/images/{id}/anonymize` and `POST /api/images/{id}/anonymized`. */
export function imageAnonymizationRoutes(deps: ApiDeps): Hono<AuthEnv> {
  // No body at all means the Basic Profile without tag values; a body must be a valid AnonymizationData.
  const request = async (req: { raw: Request }) => {
    const text = (await readLimited(req.raw, MAX_JSON_BODY)).toString('utf8');
    const json = text.trim() ? parseJson(text) : {};
    const body = parseOr400(anonymizationData, json, 'body (AnonymizationData)');
    return { options: optionNames(body.profile), tagValues: tagValuesFromJson(body.tagValues, 'tagValues') };
  };
  return new Hono<AuthEnv>()
    .put('/:id/anonymize', async (c) => {
      const id = idParam(c.req.param('id'));
      const req = await request(c.req);
      return c.json(await service(deps).replaceStoredImage(id, req));
    })
    .post('/:id/anonymized', async (c) => {
      const id = idParam(c.req.param('id'));
      const req = await request(c.req);
      const result = await service(deps).anonymizedCopy(id, req);
      c.header('Content-Type', 'application/octet-stream');
      c.header('Content-Length', String(result.length));
      // The parts as they are (the pixel data a view of the stored file), not joined into a new buffer.
      const parts = [...result.parts];
      return c.body(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            const next = parts.shift();
            if (next) controller.enqueue(new Uint8Array(next.buffer, next.byteOffset, next.length));
            else controller.close();
          },
        }),
      );
    });
}

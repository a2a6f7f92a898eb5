/**
 * What the OpenAPI document says about each route beyond Slicebox's own description of it
 * (./slicebox-openapi.json): the zod schemas that validate its body and query (imported from the route
 * files, so the document and the validation cannot drift apart), and the answers of our own routes.
 * Keys are `METHOD path` as the routes register them. A route registered in the app and described neither
 * here nor by Slicebox fails test/openapi.test.ts.
 */
import { z } from 'zod';
import { pagingParams } from '../params.js';
import { clearTextUser, userPass } from '../../users/routes.js';
import {
  anonymizationData,
  bulkAnonymizationData,
  keyQuery,
  listParams as keyListParams,
} from '../../anonymization/routes.js';
import { idList as exportIds, tagMappings } from '../routes/image-tools.js';
import { pngParams } from '../routes/render.js';
import { filterParams, listParams as metadataListParams, queryBody } from '../routes/metadata.js';
import { idList as deleteIds } from '../routes/images.js';
import { associationInput, tagFilterInput, tagPathInput } from '../../tag-filters/routes.js';
import { ruleInput, transactionQuery } from '../../forwarding/routes.js';
import { imageIds as sendIds, scuInput } from '../../forwarding/scu-routes.js';
import { connectionInput, remoteBoxInput, sendInput } from '../../boxes/routes.js';
import { seriesTagBody, seriesTagListParams } from '../../series-types/label-routes.js';
import { attributeBody, idsBody, ruleBody, seriesTypeBody } from '../../series-types/routes.js';
import { scpInput, sessionInput, watchInput } from '../../managed-sources/routes.js';
import { logQuery } from '../../log/routes.js';

type Schema = z.ZodType | { $ref: string } | Record<string, unknown>;

export interface ResponseDoc {
  description: string;
  schema?: Schema;
  /** Default application/json when there is a schema. */
  contentType?: string;
}

export interface OperationDoc {
  summary?: string;
  tags?: string[];
  /** A JSON body validated by this schema; or a raw body of the given content types. */
  body?: z.ZodType | { raw: string[]; description: string };
  /** Query parameters validated by this object schema. */
  query?: z.ZodObject;
  responses?: Record<number, ResponseDoc>;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const text = (description: string): ResponseDoc => ({
  description,
  schema: { type: 'string' },
  contentType: 'text/plain',
});
const noContent = (description: string): ResponseDoc => ({ description });
const BAD = { 400: text('The request is invalid; the answer says why') };
const NOT_FOUND = (what: string) => ({ 404: text(`No such ${what}`) });
const metadataList = { query: metadataListParams, responses: BAD };
const metadataQuery = { body: queryBody, responses: BAD };

const counters = z.object({
  received: z.number().int(),
  emitted: z.number().int(),
  dropped: z.number().int(),
  quarantined: z.number().int(),
  errors: z.number().int(),
});
const pipelineStatus = z.object({
  name: z.string(),
  file: z.string(),
  running: z.boolean(),
  inFlight: z.number().int(),
  maxInFlight: z.number().int(),
  acknowledged: z.number().int(),
  dropped: z.number().int(),
  quarantined: z.number().int(),
  components: z.array(
    z.object({
      path: z.string().describe('sources[0], operators[1], … as in the pipeline file'),
      kind: z.enum(['source', 'operator', 'sink']),
      type: z.string(),
      state: z.string().optional(),
      error: z.string().optional(),
      counters,
    }),
  ),
});
const quarantineRecord = z.object({
  id: z.string(),
  code: z.string().describe('A stable DOMAIN.REASON code'),
  message: z.string(),
  pipeline: z.string(),
  component: z.string(),
  source: z.object({ sourceType: z.string(), sourceId: z.number().int(), sourceName: z.string() }),
  detail: z.string().optional(),
  sopInstanceUID: z.string().optional(),
  envelopeId: z.string().optional(),
  size: z.number().int(),
  quarantinedAt: z.string(),
});
const forwardingTransaction = z.object({
  id: z.number().int(),
  ruleId: z.number().int().nullable(),
  routeKey: z.string(),
  destination: z.string(),
  target: z.record(z.string(), z.unknown()),
  keepImages: z.boolean(),
  status: z.enum(['OPEN', 'READY', 'SENDING', 'DELIVERING', 'RETRY', 'FAILED']),
  attempts: z.number().int(),
  created: z.number().int(),
  updated: z.number().int(),
  nextAttemptAt: z.number().int(),
  lastError: z.string(),
  boxTransactionId: z.number().int().nullable(),
  totalImageCount: z.number().int(),
  sentImageCount: z.number().int(),
});
const readiness = z.object({ ready: z.boolean(), problems: z.array(z.string()) });
const information = z
  .object({
    version: z.string(),
    startedAt: z.string().optional(),
    uptimeSecs: z.number().int().optional(),
    aeTitle: z.string().optional(),
    httpHost: z.string().optional(),
    httpPort: z.number().int().optional(),
    dicomHost: z.string().optional(),
    dicomPort: z.number().int().optional(),
    dataDir: z.string().optional(),
    storage: z
      .object({
        usedBytes: z.number(),
        freeBytes: z.number().nullable(),
        totalBytes: z.number().nullable(),
      })
      .optional(),
    counts: z
      .object({
        patients: z.number().int(),
        studies: z.number().int(),
        series: z.number().int(),
        images: z.number().int(),
      })
      .optional(),
    pipelines: z.array(z.record(z.string(), z.unknown())).optional(),
  })
  .describe('Only `version` without credentials (as Slicebox); everything for a signed-in user');

// DICOMweb (src/api/dicom-web, Orthanc's plugin paths): documented by the standard (PS3.18), in brief here.
const I = '/dicom-web/studies/:study/series/:series/instances/:instance';
const dicomJson = (description: string): ResponseDoc => ({
  description,
  schema: { type: 'array', items: { type: 'object' } },
  contentType: 'application/dicom+json',
});
const multipart = (description: string): ResponseDoc => ({
  description,
  schema: { type: 'string', format: 'binary' },
  contentType: 'multipart/related',
});
const png = (description: string): ResponseDoc => ({
  description,
  schema: { type: 'string', format: 'binary' },
  contentType: 'image/png',
});
const qido = (level: string): OperationDoc => ({
  summary: `QIDO-RS: search for ${level} (keywords or tags, C-FIND's matching, includefield, limit, offset)`,
  tags: ['DICOMweb'],
  responses: { 200: dicomJson(`Matching ${level}`), 400: text('A query that cannot run, and why') },
});
const wado = (what: string): OperationDoc => ({
  summary: `WADO-RS: ${what}`,
  tags: ['DICOMweb'],
  responses: {
    200: multipart(`${what} (application/dicom parts)`),
    ...NOT_FOUND('instance'),
    406: text('No acceptable media type'),
  },
});
const wadoJson = (what: string): OperationDoc => ({
  summary: `WADO-RS: ${what}`,
  tags: ['DICOMweb'],
  responses: { 200: dicomJson(what), ...NOT_FOUND('instance') },
});
const wadoPng = (what: string): OperationDoc => ({
  summary: `WADO-RS: ${what}`,
  tags: ['DICOMweb'],
  responses: { 200: png(what), ...NOT_FOUND('instance') },
});
const stow: OperationDoc = {
  summary: 'STOW-RS: store instances (multipart/related application/dicom) through the http_upload pipeline',
  tags: ['DICOMweb'],
  body: { raw: ['multipart/related'], description: 'application/dicom parts' },
  responses: {
    200: dicomJson('All stored (ReferencedSOPSequence)'),
    202: dicomJson('Some stored, some failed (FailedSOPSequence with the reasons)'),
    409: dicomJson('None stored'),
    ...BAD,
  },
};
const DICOM_WEB: Record<string, OperationDoc> = {
  'GET /dicom-web/studies': qido('studies'),
  'GET /dicom-web/series': qido('series'),
  'GET /dicom-web/instances': qido('instances'),
  'GET /dicom-web/studies/:study/series': qido('the series of a study'),
  'GET /dicom-web/studies/:study/instances': qido('the instances of a study'),
  'GET /dicom-web/studies/:study/series/:series/instances': qido('the instances of a series'),
  'GET /dicom-web/studies/:study': wado('a study'),
  'GET /dicom-web/studies/:study/metadata': wadoJson("a study's metadata"),
  'GET /dicom-web/studies/:study/thumbnail': wadoPng("a study's thumbnail"),
  'GET /dicom-web/studies/:study/series/:series': wado('a series'),
  'GET /dicom-web/studies/:study/series/:series/metadata': wadoJson("a series' metadata"),
  'GET /dicom-web/studies/:study/series/:series/thumbnail': wadoPng("a series' thumbnail"),
  [`GET ${I}`]: wado('an instance'),
  [`GET ${I}/metadata`]: wadoJson("an instance's metadata"),
  [`GET ${I}/thumbnail`]: wadoPng("an instance's thumbnail"),
  [`GET ${I}/rendered`]: wadoPng('an instance rendered'),
  [`GET ${I}/frames/:frames`]: wado('frames of an instance'),
  [`GET ${I}/frames/:frames/rendered`]: wadoPng('a frame rendered'),
  [`GET ${I}/bulk/:tag`]: wado('bulk data of an instance'),
  'POST /dicom-web/studies': stow,
  'POST /dicom-web/studies/:study': stow,
};

export const OPERATIONS: Record<string, OperationDoc> = {
  ...DICOM_WEB,
  // System and operations
  'GET /api/system/health': { summary: 'Liveness: 200 while the process serves HTTP' },
  'GET /api/system/information': {
    summary: 'Version (anyone); uptime, AE title, ports, data directory, storage, counts, pipelines (users)',
    responses: { 200: { description: 'What this engine is', schema: information } },
  },
  'GET /api/system/ready': {
    summary: 'Readiness: 503 while a pipeline or component is down or the disk is nearly full',
    tags: ['System'],
    responses: {
      200: { description: 'Ready', schema: readiness },
      503: { description: 'Not ready, with the problems', schema: readiness },
    },
  },
  'GET /metrics': {
    summary: 'Prometheus metrics (text exposition format 0.0.4)',
    tags: ['System'],
    responses: {
      200: { description: 'Metrics', schema: { type: 'string' }, contentType: 'text/plain; version=0.0.4' },
    },
  },
  'GET /api/openapi.json': {
    summary: 'This document',
    tags: ['System'],
    responses: { 200: { description: 'OpenAPI 3.1', schema: { type: 'object' } } },
  },

  // The web UI (src/ui/server.ts): its page and files, public as any login page's
  'GET /': {
    summary: "The web UI's page",
    tags: ['Web UI'],
    responses: { 200: { description: 'index.html', schema: { type: 'string' }, contentType: 'text/html' } },
  },
  'GET /:path{.+}': {
    summary: "The web UI's files, and its page for any other path outside /api",
    tags: ['Web UI'],
    responses: { 200: { description: 'A file of the UI, or index.html' } },
  },
  'GET /api/pipelines/stages': {
    summary: 'Time spent per stage of each pipeline (ours)',
    tags: ['Pipelines'],
    responses: { 200: { description: 'Per-stage timings', schema: { type: 'object' } } },
  },
  'POST /api/scus/:id/echo': {
    summary: 'A C-ECHO to the SCU, to check the peer before sending (ours)',
    tags: ['SCUs'],
    responses: {
      204: noContent('The peer answered'),
      ...NOT_FOUND('SCU'),
      502: text('The peer did not answer'),
    },
  },

  // Users
  'GET /api/users': { query: pagingParams, responses: BAD },
  'POST /api/users': {
    body: clearTextUser,
    responses: { 201: { description: 'The user', schema: ref('userInfo') }, ...BAD },
  },
  'POST /api/users/login': {
    body: userPass,
    responses: {
      204: noContent('Logged in; the session cookie is set'),
      401: text('Invalid username or password'),
      429: text('Too many failed logins; Retry-After says how long to wait'),
      ...BAD,
    },
  },
  'GET /api/users/current': {
    responses: { 200: { description: 'The caller', schema: ref('userInfo') }, 404: text('Not logged in') },
  },

  // Metadata
  'GET /api/metadata/patients': metadataList,
  'GET /api/metadata/studies': metadataList,
  'GET /api/metadata/series': metadataList,
  'GET /api/metadata/images': metadataList,
  'GET /api/metadata/flatseries': metadataList,
  'POST /api/metadata/patients/query': metadataQuery,
  'POST /api/metadata/studies/query': metadataQuery,
  'POST /api/metadata/series/query': metadataQuery,
  'POST /api/metadata/images/query': metadataQuery,
  'POST /api/metadata/flatseries/query': metadataQuery,
  'GET /api/metadata/patients/:id/images': {
    query: filterParams,
    responses: { ...BAD, ...NOT_FOUND('patient') },
  },
  'GET /api/metadata/studies/:id/images': {
    query: filterParams,
    responses: { ...BAD, ...NOT_FOUND('study') },
  },
  'GET /api/metadata/seriestags': { query: seriesTagListParams, responses: BAD },
  'POST /api/metadata/seriestags': {
    summary: 'Creates a series tag (ours)',
    body: seriesTagBody,
    responses: { 201: { description: 'The series tag', schema: ref('seriestag') }, ...BAD },
  },
  'GET /api/metadata/seriestags/:id': {
    summary: 'A series tag (ours)',
    responses: {
      200: { description: 'The series tag', schema: ref('seriestag') },
      ...NOT_FOUND('series tag'),
    },
  },
  'PUT /api/metadata/seriestags/:id': {
    summary: 'Renames a series tag (ours)',
    body: seriesTagBody,
    responses: {
      200: { description: 'The series tag', schema: ref('seriestag') },
      ...BAD,
      ...NOT_FOUND('series tag'),
    },
  },
  'DELETE /api/metadata/seriestags/:id': {
    summary: 'Deletes a series tag and its links (ours)',
    responses: { 204: noContent('Deleted') },
  },
  'POST /api/metadata/series/:id/seriestags': { body: seriesTagBody, responses: BAD },

  // Images
  'POST /api/images': {
    body: {
      raw: ['application/octet-stream', 'application/dicom', 'multipart/form-data'],
      description: 'A DICOM Part-10 file: the raw body, or the multipart part `file`',
    },
    responses: {
      400: text('Not valid DICOM; the answer says why (the file is quarantined)'),
      413: text('Too large'),
    },
  },
  'POST /api/images/delete': { body: deleteIds, responses: BAD },
  'POST /api/images/export': {
    body: exportIds,
    responses: {
      200: { description: 'The export set', schema: ref('exportSetId') },
      204: noContent('No ids'),
      ...BAD,
    },
  },
  'POST /api/images/jpeg': {
    body: { raw: ['image/jpeg', 'application/octet-stream'], description: 'A baseline JPEG' },
    responses: { ...BAD, ...NOT_FOUND('study'), 413: text('Larger than 64 MiB') },
  },
  'PUT /api/images/:id/modify': {
    body: tagMappings,
    responses: {
      201: { description: 'The modified image', schema: ref('image') },
      409: text('The pipeline dropped the modified instance; the image is unchanged'),
      ...BAD,
      ...NOT_FOUND('image'),
    },
  },
  'GET /api/images/:id/png': {
    query: pngParams,
    responses: {
      200: {
        description: 'The frame as PNG',
        schema: { type: 'string', format: 'binary' },
        contentType: 'image/png',
      },
      ...BAD,
      ...NOT_FOUND('image'),
    },
  },
  'GET /api/series/:id/thumbnail': {
    summary: 'A small PNG of a middle image of the series (ours)',
    tags: ['Images'],
    responses: {
      200: { description: 'PNG', schema: { type: 'string', format: 'binary' }, contentType: 'image/png' },
      ...NOT_FOUND('series'),
    },
  },

  // Anonymization
  'POST /api/anonymization/anonymize': { body: bulkAnonymizationData, responses: BAD },
  'GET /api/anonymization/keys': { query: keyListParams, responses: BAD },
  'POST /api/anonymization/keys/query': { body: keyQuery, responses: BAD },
  'PUT /api/images/:id/anonymize': { body: anonymizationData, responses: { ...BAD, ...NOT_FOUND('image') } },
  'POST /api/images/:id/anonymized': {
    body: anonymizationData,
    responses: { ...BAD, ...NOT_FOUND('image') },
  },

  // Tag filters, series types
  'GET /api/filtering/filters': { query: pagingParams, responses: BAD },
  'POST /api/filtering/filters': { body: tagFilterInput, responses: BAD },
  'POST /api/filtering/filters/:id/tagpaths': {
    body: tagPathInput,
    responses: { ...BAD, ...NOT_FOUND('filter') },
  },
  'GET /api/filtering/associations': { query: pagingParams, responses: BAD },
  'POST /api/filtering/associations': { body: associationInput, responses: BAD },
  'GET /api/seriestypes': { query: pagingParams, responses: BAD },
  'POST /api/seriestypes': { body: seriesTypeBody, responses: BAD },
  'PUT /api/seriestypes/:id': { body: seriesTypeBody, responses: { ...BAD, ...NOT_FOUND('series type') } },
  'POST /api/seriestypes/rules': { body: ruleBody, responses: BAD },
  'POST /api/seriestypes/rules/:ruleId/attributes': {
    body: attributeBody,
    responses: { ...BAD, ...NOT_FOUND('rule') },
  },
  'POST /api/seriestypes/series/query': { body: idsBody, responses: BAD },
  'POST /api/seriestypes/rules/updatestatus': {
    summary: 'Whether re-classification runs (as GET; a POST that only reads)',
    responses: { 200: { description: 'Status', schema: ref('seriestypeupdatestatus') } },
  },

  // Managed sources
  'GET /api/scps': { query: pagingParams, responses: BAD },
  'POST /api/scps': { body: scpInput, responses: BAD },
  'GET /api/directorywatches': { query: pagingParams, responses: BAD },
  'POST /api/directorywatches': { body: watchInput, responses: BAD },
  'GET /api/import/sessions': { query: pagingParams, responses: BAD },
  'POST /api/import/sessions': { body: sessionInput, responses: BAD },
  'POST /api/import/sessions/:id/images': {
    body: {
      raw: ['application/octet-stream', 'application/dicom', 'multipart/form-data'],
      description: 'A DICOM Part-10 file: the raw body, or the multipart part `file`',
    },
    responses: {
      400: text('"<filename>: <reason>" for a file that is not valid DICOM'),
      ...NOT_FOUND('import session'),
    },
  },

  // SCUs, forwarding, log
  'GET /api/scus': { query: pagingParams, responses: BAD },
  'POST /api/scus': { body: scuInput, responses: BAD },
  'POST /api/scus/:id/send': {
    body: sendIds,
    responses: { ...BAD, ...NOT_FOUND('SCU'), 502: text('The peer refused or failed') },
  },
  'GET /api/forwarding/rules': { query: pagingParams, responses: BAD },
  'POST /api/forwarding/rules': { body: ruleInput, responses: BAD },
  'DELETE /api/forwarding/rules/:id': {
    summary: 'Deletes a forwarding rule (Slicebox: /forwarding/rules/{id})',
    tags: ['Forwarding'],
    responses: { 204: noContent('Deleted') },
  },
  'GET /api/forwarding/transactions': {
    summary: 'The forwarding outbox and its dead letters (FAILED) (ours)',
    tags: ['Forwarding'],
    query: transactionQuery,
    responses: { 200: { description: 'Transactions', schema: z.array(forwardingTransaction) }, ...BAD },
  },
  'GET /api/forwarding/transactions/:id': {
    summary: 'A forwarding transaction (ours)',
    tags: ['Forwarding'],
    responses: {
      200: { description: 'The transaction', schema: forwardingTransaction },
      ...NOT_FOUND('transaction'),
    },
  },
  'GET /api/forwarding/transactions/:id/images': {
    summary: 'The instances of a forwarding transaction (ours)',
    tags: ['Forwarding'],
    responses: {
      200: {
        description: 'Instances',
        schema: z.array(z.object({ imageId: z.number().int(), sopInstanceUid: z.string() })),
      },
      ...NOT_FOUND('transaction'),
    },
  },
  'POST /api/forwarding/transactions/:id/retry': {
    summary: 'Sends a dead-lettered or waiting transaction again now (ours)',
    tags: ['Forwarding'],
    responses: {
      200: { description: 'The transaction', schema: forwardingTransaction },
      ...BAD,
      ...NOT_FOUND('transaction'),
    },
  },
  'DELETE /api/forwarding/transactions/:id': {
    summary: 'Drops a forwarding transaction (ours)',
    tags: ['Forwarding'],
    responses: { 204: noContent('Deleted') },
  },
  'GET /api/log': { query: logQuery, responses: BAD },

  // Boxes
  'GET /api/boxes': { query: pagingParams, responses: BAD },
  'POST /api/boxes/createconnection': { body: connectionInput, responses: BAD },
  'POST /api/boxes/connect': { body: remoteBoxInput, responses: BAD },
  'POST /api/boxes/:id/send': { body: sendInput, responses: { ...BAD, ...NOT_FOUND('box') } },
  'GET /api/boxes/incoming': { query: pagingParams, responses: BAD },
  'GET /api/boxes/outgoing': { query: pagingParams, responses: BAD },

  // Pipelines and quarantine (ours)
  'GET /api/pipelines': {
    summary: 'Each running pipeline with its components and their counters',
    tags: ['Pipelines'],
    responses: { 200: { description: 'Pipelines', schema: z.array(pipelineStatus) } },
  },
  'GET /api/quarantine': {
    summary:
      'What could not be ingested, and why: newest first, paged; X-Total-Count tells how many there are',
    tags: ['Quarantine'],
    query: pagingParams,
    responses: { 200: { description: 'Records', schema: z.array(quarantineRecord) } },
  },
  'GET /api/quarantine/:id': {
    summary: 'A quarantine record',
    tags: ['Quarantine'],
    responses: {
      200: { description: 'The record', schema: quarantineRecord },
      ...NOT_FOUND('quarantine record'),
    },
  },
  'DELETE /api/quarantine/:id': {
    summary: 'Discards a quarantined file and its record',
    tags: ['Quarantine'],
    responses: { 204: noContent('Deleted') },
  },
  'POST /api/quarantine/:id/requeue': {
    summary: 'Runs a quarantined file through the pipeline again',
    tags: ['Quarantine'],
    responses: {
      200: {
        description: 'Ingested this time',
        schema: z.object({ requeued: z.literal(true), outcome: z.enum(['ack', 'drop']) }),
      },
      400: {
        description: 'Quarantined again, with the reason',
        schema: z.object({ requeued: z.literal(false), code: z.string(), message: z.string() }),
      },
      ...NOT_FOUND('quarantine record'),
    },
  },
};

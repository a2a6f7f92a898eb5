/**
 * STOW-RS (PS3.18 10.5): `POST /studies` (and `/studies/{study}`) with a `multipart/related;
 * type="application/dicom"` body. Each part is streamed into the pipeline of the `http_upload` source, as
 * `POST /api/images` does (stored and indexed before it counts), and the answer is the standard one:
 * ReferencedSOPSequence for what was stored, FailedSOPSequence with a FailureReason for what was not; 200
 * when all were stored, 202 when some, 409 when none.
 */
import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { AuthEnv } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { BadRequestError, SluiceError } from '../../errors.js';
import { parseHeader } from '../../dicom/header.js';
import type { Outcome } from '../../pipeline/outcome.js';
import type { Origin } from '../../pipeline/origin.js';
import { multipartParameters, multipartParts, type Part } from './multipart-reader.js';
import type { DicomJson } from './json.js';
import { baseUrl, checkUid, instanceUrl } from './locate.js';

/** Parts in the pipeline at once: each has all its bytes; more wait for the first to settle. */
const IN_FLIGHT = 4;
/** A part checked against the study of the path is read whole first (the http_upload limit). */
const MAX_CHECKED_PART = 256 * 1024 * 1024;

/** PS3.4 / PS3.18 failure reasons. */
export const FailureReason = {
  ProcessingFailure: 0x0110,
  SopClassNotSupported: 0x0122,
  OutOfResources: 0xa700,
  DataSetDoesNotMatchSopClass: 0xa900,
  CannotUnderstand: 0xc000,
  TransferSyntaxNotSupported: 0xc122,
} as const;

interface PartResult {
  sopClassUid?: string;
  sopInstanceUid?: string;
  studyUid?: string;
  seriesUid?: string;
  failure?: number;
  /** Why it failed (Warning header; no patient data). */
  reason?: string;
}

function fromOutcome(outcome: Outcome): PartResult {
  const header = outcome.envelope?.header;
  const uids = {
    sopClassUid: header?.sopClassUid,
    sopInstanceUid: header?.sopInstanceUid,
    studyUid: String(header?.dataset['0020000D']?.Value?.[0] ?? ''),
    seriesUid: String(header?.dataset['0020000E']?.Value?.[0] ?? ''),
  };
  if (outcome.kind === 'ack') return uids;
  if (outcome.kind === 'drop')
    return { ...uids, failure: FailureReason.ProcessingFailure, reason: `dropped: ${outcome.reason}` };
  const { code, message } = outcome.error;
  const failure =
    code === 'DICOM.INVALID'
      ? FailureReason.CannotUnderstand
      : code === 'DICOM.UNSUPPORTED_CONTEXT'
        ? /transfer syntax/.test(message)
          ? FailureReason.TransferSyntaxNotSupported
          : FailureReason.SopClassNotSupported
        : code === 'STORAGE.FULL' || code === 'INPUT.TOO_LARGE' || code === 'ENGINE.NO_UPLOAD_SOURCE'
          ? FailureReason.OutOfResources
          : FailureReason.ProcessingFailure;
  return { ...uids, failure, reason: message };
}

async function readWhole(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new SluiceError('INPUT.TOO_LARGE', `a part is larger than ${limit} bytes`, 413);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** One part into the pipeline; with a study in the path, an instance of another study is refused first. */
async function storePart(
  deps: ApiDeps,
  part: Part,
  origin: Origin,
  study: string | undefined,
): Promise<PartResult> {
  const type = (part.headers.get('content-type') ?? 'application/dicom').split(';')[0].trim().toLowerCase();
  if (type !== 'application/dicom') {
    part.body.resume();
    return {
      failure: FailureReason.SopClassNotSupported,
      reason: `a part of type ${type.slice(0, 40)} (only application/dicom is stored)`,
    };
  }
  if (!study) return fromOutcome(await deps.engine.upload(part.body, origin));
  const bytes = await readWhole(part.body, MAX_CHECKED_PART);
  let header;
  try {
    header = parseHeader(bytes);
  } catch {
    header = undefined; // the pipeline quarantines it and says why
  }
  const studyUid = String(header?.dataset['0020000D']?.Value?.[0] ?? '');
  if (header && studyUid !== study)
    return {
      sopClassUid: header.sopClassUid,
      sopInstanceUid: header.sopInstanceUid,
      failure: FailureReason.DataSetDoesNotMatchSopClass,
      reason: `instance ${header.sopInstanceUid} is not of study ${study}`,
    };
  return fromOutcome(await deps.engine.upload(Readable.from([bytes]), origin));
}

const ui = (value: string | undefined) => (value ? { vr: 'UI', Value: [value] } : { vr: 'UI' });

async function store(c: Context<AuthEnv>, deps: ApiDeps, study: string | undefined) {
  if (study) checkUid(study);
  const contentType = c.req.header('content-type') ?? '';
  const { type, boundary } = multipartParameters(contentType);
  if (
    !/^multipart\/related\s*(;|$)/i.test(contentType) ||
    (type && type.toLowerCase() !== 'application/dicom')
  )
    throw new SluiceError(
      'DICOMWEB.UNSUPPORTED_MEDIA_TYPE',
      'STOW-RS takes multipart/related; type="application/dicom" (instances as Part-10 files)',
      415,
    );
  if (!boundary) throw new BadRequestError('multipart/related without a boundary');
  if (!c.req.raw.body) throw new BadRequestError('request body is empty');
  const user = c.get('user');
  const origin: Origin = { sourceType: 'user', sourceId: user.id, sourceName: user.user, detail: 'STOW-RS' };
  const results: Array<Promise<PartResult>> = [];
  const settled: boolean[] = [];
  for await (const part of multipartParts(c.req.raw.body as unknown as AsyncIterable<Uint8Array>, boundary)) {
    // Parts before this one have all their bytes: waiting for them cannot stall the request.
    while (settled.filter((s) => !s).length >= IN_FLIGHT) await Promise.race(results);
    const index = results.length;
    settled.push(false);
    results.push(
      storePart(deps, part, origin, study)
        .catch((err: Error) => ({ failure: FailureReason.ProcessingFailure, reason: err.message }))
        .finally(() => (settled[index] = true)),
    );
  }
  const parts = await Promise.all(results);
  if (!parts.length) throw new BadRequestError('multipart body has no parts');
  const base = baseUrl(c, deps.publicUrl);
  const stored = parts.filter((p) => p.failure === undefined);
  const failed = parts.filter((p) => p.failure !== undefined);
  const answer: DicomJson = {};
  const studies = new Set(stored.map((p) => p.studyUid));
  const studyUid = study ?? (studies.size === 1 ? [...studies][0] : undefined);
  if (studyUid) answer['00081190'] = { vr: 'UR', Value: [`${base}/studies/${studyUid}`] };
  if (failed.length)
    answer['00081198'] = {
      vr: 'SQ',
      Value: failed.map((p) => ({
        '00081150': ui(p.sopClassUid),
        '00081155': ui(p.sopInstanceUid),
        '00081197': { vr: 'US', Value: [p.failure] },
      })),
    };
  if (stored.length)
    answer['00081199'] = {
      vr: 'SQ',
      Value: stored.map((p) => ({
        '00081150': ui(p.sopClassUid),
        '00081155': ui(p.sopInstanceUid),
        '00081190': {
          vr: 'UR',
          Value: [
            instanceUrl(base, {
              studyUid: p.studyUid!,
              seriesUid: p.seriesUid!,
              sopInstanceUid: p.sopInstanceUid!,
            }),
          ],
        },
      })),
    };
  for (const p of failed.slice(0, 10))
    c.header('Warning', `299 sluice "${(p.reason ?? 'failed').replace(/"/g, "'").slice(0, 200)}"`, {
      append: true,
    });
  const status = failed.length === 0 ? 200 : stored.length ? 202 : 409;
  return c.body(JSON.stringify(answer), status, { 'Content-Type': 'application/dicom+json' });
}

export function stowRoutes(deps: ApiDeps): Hono<AuthEnv> {
  return new Hono<AuthEnv>()
    .post('/studies', (c) => store(c, deps, undefined))
    .post('/studies/:study', (c) => store(c, deps, c.req.param('study')));
}

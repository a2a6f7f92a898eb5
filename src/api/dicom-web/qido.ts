/**
 * QIDO-RS (PS3.18 10.6): searches for studies, series and instances over the index, with the paths
 * Orthanc's DICOMweb plugin serves. Keys are keywords or tags (`PatientID=X`, `00100020=X`), matched as
 * C-FIND matches them (wildcards, ranges, UID lists separated by commas or backslashes); `includefield`
 * (names, tags or `all`), `limit`, `offset` and `fuzzymatching` (names by the start of any component).
 * Attributes the index does not hold are ignored with a `Warning: 299` header, as the standard asks;
 * names that are no DICOM attribute, nested ones and bad values are a 400 with the reason.
 */
import dcmjs from 'dcmjs';
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { AuthEnv } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { BadRequestError } from '../../errors.js';
import {
  attributesUpTo,
  depthOf,
  findAttribute,
  findAttributeByTag,
  matcherOf,
  QueryError,
  type FindAttribute,
  type FindKey,
  type FindLevel,
  type FindMatch,
} from '../../storage/find-query.js';
import { jsonElement, tagKey, type DicomJson } from './json.js';
import { baseUrl, checkUid } from './locate.js';

const { DicomMetaDictionary } = dcmjs.data;

/** What each level answers without `includefield` (PS3.18 Tables 10.6.3-3 to 10.6.3-5), and the UIDs above. */
const DEFAULT_RETURNS: Record<Exclude<FindLevel, 'PATIENT'>, string[]> = {
  STUDY: [
    'StudyDate',
    'StudyTime',
    'AccessionNumber',
    'ModalitiesInStudy',
    'ReferringPhysicianName',
    'PatientName',
    'PatientID',
    'PatientBirthDate',
    'PatientSex',
    'StudyInstanceUID',
    'StudyID',
    'StudyDescription',
    'NumberOfStudyRelatedSeries',
    'NumberOfStudyRelatedInstances',
  ],
  SERIES: [
    'Modality',
    'SeriesDescription',
    'SeriesInstanceUID',
    'SeriesNumber',
    'NumberOfSeriesRelatedInstances',
    'PerformedProcedureStepStartDate',
    'PerformedProcedureStepStartTime',
    'StudyInstanceUID',
  ],
  IMAGE: [
    'SOPClassUID',
    'SOPInstanceUID',
    'InstanceNumber',
    'Rows',
    'Columns',
    'BitsAllocated',
    'NumberOfFrames',
    'AvailableTransferSyntaxUID',
    'StudyInstanceUID',
    'SeriesInstanceUID',
  ],
};

export const DEFAULT_LIMIT = 1000;
export const MAX_LIMIT = 10_000;

/** A QIDO-RS attribute name: a keyword, or a tag as eight hex digits. */
function attributeNamed(name: string): { attribute?: FindAttribute; known: boolean } {
  if (name.includes('.')) throw new BadRequestError(`${name}: nested attributes cannot be searched here`);
  if (/^[0-9A-Fa-f]{8}$/.test(name)) {
    const tag = parseInt(name, 16);
    const known = `(${name.slice(0, 4)},${name.slice(4)})`.toUpperCase() in DicomMetaDictionary.dictionary;
    return { attribute: findAttributeByTag(tag), known };
  }
  return { attribute: findAttribute(name), known: name in DicomMetaDictionary.nameMap };
}

const integer = (name: string, value: string, max: number) => {
  if (!/^\d{1,9}$/.test(value))
    throw new BadRequestError(`${name} must be a non-negative integer, got "${value}"`);
  const n = Number(value);
  if (n > max) throw new BadRequestError(`${name} must be at most ${max}`);
  return n;
};

/** The level's entities matching the request, as DICOM JSON. */
async function search(
  c: Context<AuthEnv>,
  deps: ApiDeps,
  level: Exclude<FindLevel, 'PATIENT'>,
  pathKeys: Record<string, string>,
) {
  const warnings: string[] = [];
  const returns = new Set(DEFAULT_RETURNS[level]);
  const given = new Map<string, string[]>();
  let limit = DEFAULT_LIMIT;
  let offset = 0;
  let fuzzy = false;
  const url = new URL(c.req.url);
  for (const [name, value] of url.searchParams) {
    const lower = name.toLowerCase();
    if (lower === 'includefield') {
      for (const field of value
        .split(',')
        .map((f) => f.trim())
        .filter(Boolean)) {
        if (field === 'all') attributesUpTo(level).forEach((a) => returns.add(a.keyword));
        else {
          const { attribute, known } = attributeNamed(field);
          if (attribute && depthOf(attribute.level) <= depthOf(level)) returns.add(attribute.keyword);
          else if (known || attribute) warnings.push(`${field} is not returned at this level`);
          else throw new BadRequestError(`includefield: ${field} is not a DICOM attribute`);
        }
      }
    } else if (lower === 'limit') limit = integer('limit', value, MAX_LIMIT);
    else if (lower === 'offset') offset = integer('offset', value, 1_000_000_000);
    else if (lower === 'fuzzymatching') {
      if (value !== 'true' && value !== 'false')
        throw new BadRequestError('fuzzymatching must be true or false');
      fuzzy = value === 'true';
    } else {
      const { attribute, known } = attributeNamed(name);
      if (!attribute) {
        if (!known) throw new BadRequestError(`${name} is not a DICOM attribute`);
        warnings.push(`${name} cannot be matched here and was ignored`);
        continue;
      }
      if (depthOf(attribute.level) > depthOf(level))
        throw new BadRequestError(
          `${name} is a ${attribute.level} attribute; it cannot be matched at the ${level} level`,
        );
      given.set(attribute.keyword, [...(given.get(attribute.keyword) ?? []), value]);
      returns.add(attribute.keyword);
    }
  }
  const keys: FindKey[] = [];
  try {
    for (const [keyword, uid] of Object.entries(pathKeys))
      keys.push({ keyword, matcher: { kind: 'single', value: checkUid(uid) } });
    for (const [keyword, values] of given) {
      const attribute = findAttribute(keyword)!;
      const value = values.map((v) => (attribute.vr === 'UI' ? v.replace(/,/g, '\\') : v)).join('\\');
      const matcher = matcherOf(attribute, value, { fuzzy });
      if (matcher) keys.push({ keyword, matcher });
    }
  } catch (err) {
    if (err instanceof QueryError) throw new BadRequestError(err.message);
    throw err;
  }
  const matches = await deps.index.find({
    level,
    keys,
    returns: [...returns],
    caseInsensitiveNames: deps.queryRetrieve.services.caseInsensitiveNames,
    offset,
    limit: limit + 1,
  });
  if (matches.length > limit) {
    matches.length = limit;
    warnings.push('There are more results: use offset and limit');
  }
  const base = baseUrl(c, deps.publicUrl);
  for (const warning of warnings)
    c.header('Warning', `299 sluice "${warning.replace(/"/g, "'")}"`, { append: true });
  return c.body(JSON.stringify(matches.map((m) => answer(level, m, [...returns], base))), 200, {
    'Content-Type': 'application/dicom+json',
  });
}

function answer(level: FindLevel, match: FindMatch, returns: string[], base: string): DicomJson {
  const out: DicomJson = {};
  for (const keyword of returns) {
    const a = findAttribute(keyword);
    if (a) out[tagKey(a.tag)] = jsonElement(a.vr, match.values[keyword]);
  }
  const { StudyInstanceUID: study, SeriesInstanceUID: series, SOPInstanceUID: instance } = match.values;
  const url =
    level === 'STUDY'
      ? `${base}/studies/${study}`
      : level === 'SERIES'
        ? `${base}/studies/${study}/series/${series}`
        : `${base}/studies/${study}/series/${series}/instances/${instance}`;
  out['00080056'] = { vr: 'CS', Value: ['ONLINE'] };
  out['00081190'] = { vr: 'UR', Value: [url] };
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

export function qidoRoutes(deps: ApiDeps): Hono<AuthEnv> {
  return new Hono<AuthEnv>()
    .get('/studies', (c) => search(c, deps, 'STUDY', {}))
    .get('/series', (c) => search(c, deps, 'SERIES', {}))
    .get('/instances', (c) => search(c, deps, 'IMAGE', {}))
    .get('/studies/:study/series', (c) =>
      search(c, deps, 'SERIES', { StudyInstanceUID: c.req.param('study') }),
    )
    .get('/studies/:study/instances', (c) =>
      search(c, deps, 'IMAGE', { StudyInstanceUID: c.req.param('study') }),
    )
    .get('/studies/:study/series/:series/instances', (c) =>
      search(c, deps, 'IMAGE', {
        StudyInstanceUID: c.req.param('study'),
        SeriesInstanceUID: c.req.param('series'),
      }),
    );
}

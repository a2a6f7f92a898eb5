/**
 * Query/Retrieve over the metadata index, one model for C-FIND (src/dimse/qr) and QIDO-RS
 * (src/api/dicom-web): the attributes the index can match and return and the level each lives at, how a
 * DICOM matching value (PS3.4 C.2.2.2) becomes a matcher, and the query handed to `MetadataIndex.find`.
 *
 * @example
 * const query: FindQuery = {
 *   level: 'STUDY',
 *   keys: [{ keyword: 'PatientID', matcher: matcherOf(findAttribute('PatientID')!, 'PAT*')! }],
 *   returns: ['StudyInstanceUID', 'ModalitiesInStudy'],
 *   caseInsensitiveNames: true,
 *   limit: 100,
 * };
 */
import dcmjs from 'dcmjs';
import { BadRequestError } from '../errors.js';

const { DicomMetaDictionary } = dcmjs.data;

export type FindLevel = 'PATIENT' | 'STUDY' | 'SERIES' | 'IMAGE';
/** Top-down: a level's depth is its index (as the index's tables). */
export const FIND_LEVELS: readonly FindLevel[] = ['PATIENT', 'STUDY', 'SERIES', 'IMAGE'];

export interface FindAttribute {
  keyword: string;
  /** The tag as a number, e.g. 0x00100020. */
  tag: number;
  vr: string;
  level: FindLevel;
  /** Counts and other values computed from lower levels are returned only, never matched. */
  matchable: boolean;
  /** Holds several values (`\`-separated) for one entity. */
  multiValued?: boolean;
}

/** Keyword, level, and whether it can be matched: what C.6 of PS3.4 and QIDO-RS ask for, and more. */
const CATALOGUE: ReadonlyArray<readonly [string, FindLevel, matchable?: false, multiValued?: true]> = [
  ['PatientName', 'PATIENT'],
  ['PatientID', 'PATIENT'],
  ['PatientBirthDate', 'PATIENT'],
  ['PatientSex', 'PATIENT'],
  ['NumberOfPatientRelatedStudies', 'PATIENT', false],
  ['NumberOfPatientRelatedSeries', 'PATIENT', false],
  ['NumberOfPatientRelatedInstances', 'PATIENT', false],
  ['StudyInstanceUID', 'STUDY'],
  ['StudyDate', 'STUDY'],
  ['StudyTime', 'STUDY'],
  ['AccessionNumber', 'STUDY'],
  ['StudyID', 'STUDY'],
  ['StudyDescription', 'STUDY'],
  ['ReferringPhysicianName', 'STUDY'],
  ['PatientAge', 'STUDY'],
  ['ModalitiesInStudy', 'STUDY', undefined, true],
  ['SOPClassesInStudy', 'STUDY', undefined, true],
  ['NumberOfStudyRelatedSeries', 'STUDY', false],
  ['NumberOfStudyRelatedInstances', 'STUDY', false],
  ['SeriesInstanceUID', 'SERIES'],
  ['Modality', 'SERIES'],
  ['SeriesNumber', 'SERIES'],
  ['SeriesDescription', 'SERIES'],
  ['SeriesDate', 'SERIES'],
  ['SeriesTime', 'SERIES'],
  ['BodyPartExamined', 'SERIES'],
  ['ProtocolName', 'SERIES'],
  ['Manufacturer', 'SERIES'],
  ['StationName', 'SERIES'],
  ['FrameOfReferenceUID', 'SERIES'],
  ['PerformedProcedureStepStartDate', 'SERIES'],
  ['PerformedProcedureStepStartTime', 'SERIES'],
  ['NumberOfSeriesRelatedInstances', 'SERIES', false],
  ['SOPInstanceUID', 'IMAGE'],
  ['SOPClassUID', 'IMAGE'],
  ['InstanceNumber', 'IMAGE'],
  ['ImageType', 'IMAGE', false, true],
  ['Rows', 'IMAGE'],
  ['Columns', 'IMAGE'],
  ['NumberOfFrames', 'IMAGE'],
  ['BitsAllocated', 'IMAGE'],
  ['AvailableTransferSyntaxUID', 'IMAGE'],
];

function dictionaryEntry(keyword: string): { tag: number; vr: string } {
  const entry = DicomMetaDictionary.nameMap[keyword] as { tag: string; vr: string } | undefined;
  if (!entry) throw new Error(`unknown keyword ${keyword}`);
  return { tag: parseInt(entry.tag.replace(/[(),]/g, ''), 16), vr: entry.vr.slice(0, 2) };
}

const BY_KEYWORD = new Map<string, FindAttribute>(
  CATALOGUE.map(([keyword, level, matchable, multiValued]) => [
    keyword,
    { keyword, ...dictionaryEntry(keyword), level, matchable: matchable ?? true, multiValued },
  ]),
);
const BY_TAG = new Map<number, FindAttribute>([...BY_KEYWORD.values()].map((a) => [a.tag, a]));

/** Every attribute the index can answer for, top-down. */
export const FIND_ATTRIBUTES: readonly FindAttribute[] = [...BY_KEYWORD.values()];

export const findAttribute = (keyword: string): FindAttribute | undefined => BY_KEYWORD.get(keyword);
export const findAttributeByTag = (tag: number): FindAttribute | undefined => BY_TAG.get(tag);

/** The attributes of `level` and the levels above it. */
export const attributesUpTo = (level: FindLevel): FindAttribute[] =>
  FIND_ATTRIBUTES.filter((a) => depthOf(a.level) <= depthOf(level));

export const depthOf = (level: FindLevel): number => FIND_LEVELS.indexOf(level);

/** How a key's value selects entities (PS3.4 C.2.2.2); no matcher means universal matching. */
export type Matcher =
  /** Single value matching: equal (person names as configured: case-insensitive). */
  | { kind: 'single'; value: string }
  /** List of UIDs, or of single values: equal to one of them. */
  | { kind: 'list'; values: string[] }
  /** `*` any run of characters, `?` any one. */
  | { kind: 'wildcard'; pattern: string }
  /** Dates and times: from and to included, '' open. */
  | { kind: 'range'; from: string; to: string }
  /** QIDO-RS fuzzymatching of names: a name component (family, given…) starts with the value, any case. */
  | { kind: 'fuzzy'; value: string };

export interface FindKey {
  keyword: string;
  matcher: Matcher;
}

export interface FindQuery {
  level: FindLevel;
  /** Keys with a matcher, of `level` or above (every key ANDed). */
  keys: readonly FindKey[];
  /** Keywords whose values each match answers; unknown keywords are left out of the answer. */
  returns: readonly string[];
  /** Person names matched regardless of case (ASCII letters). */
  caseInsensitiveNames: boolean;
  /** Keyset paging: only entities whose row id is greater. */
  afterId?: number;
  offset?: number;
  limit: number;
}

/** One matching entity: its row id at the query's level and the returned values (multi-valued joined by `\`). */
export interface FindMatch {
  id: number;
  values: Record<string, string>;
}

/** A query the index cannot run as asked (bad value, unmatchable key): 400, or 0xC000 over DIMSE. */
export class QueryError extends BadRequestError {}

const WILDCARD_VRS = new Set(['AE', 'CS', 'LO', 'LT', 'PN', 'SH', 'ST', 'UC', 'UR', 'UT']);
const RANGE_VRS = new Set(['DA', 'TM', 'DT']);
const DATE = /^\d{8}$/;
const TIME = /^([01]\d|2[0-3])([0-5]\d([0-5]\d(\.\d{1,6})?)?)?$/;
const DATE_TIME = /^\d{4,14}(\.\d{1,6})?$/;

function checkTemporal(a: FindAttribute, value: string): void {
  const format = a.vr === 'DA' ? DATE : a.vr === 'TM' ? TIME : DATE_TIME;
  if (!format.test(value))
    throw new QueryError(
      `${a.keyword}: "${value}" is not a ${a.vr === 'DA' ? 'date (YYYYMMDD)' : a.vr === 'TM' ? 'time (HHMMSS.FFFFFF)' : 'date-time'}`,
    );
}

/**
 * The matcher for a key's value as DICOM writes it (`PAT*`, `20200101-20201231`, `1.2.3\1.2.4`); undefined
 * for universal matching (empty, or `*` alone). Throws QueryError for values the attribute cannot take.
 */
export function matcherOf(
  a: FindAttribute,
  raw: string,
  options: { fuzzy?: boolean } = {},
): Matcher | undefined {
  const value = a.vr === 'PN' ? raw.trim() : raw.trim().replace(/\0+$/, '');
  if (value === '' || value === '*') return undefined;
  if (!a.matchable) throw new QueryError(`${a.keyword} can be returned but not matched`);
  const hasWildcard = /[*?]/.test(value);
  if (RANGE_VRS.has(a.vr)) {
    if (hasWildcard || value.includes('\\'))
      throw new QueryError(`${a.keyword}: a ${a.vr} value takes a single value or a range, not "${value}"`);
    const dash = value.indexOf('-');
    if (dash < 0) {
      checkTemporal(a, value);
      return a.vr === 'TM' ? { kind: 'range', from: value, to: value } : { kind: 'single', value };
    }
    const from = value.slice(0, dash).trim();
    const to = value.slice(dash + 1).trim();
    if (!from && !to) return undefined;
    if (from) checkTemporal(a, from);
    if (to) checkTemporal(a, to);
    if (from && to && a.vr !== 'TM' && from > to)
      throw new QueryError(`${a.keyword}: the range "${value}" ends before it starts`);
    return { kind: 'range', from, to };
  }
  if (hasWildcard && !WILDCARD_VRS.has(a.vr))
    throw new QueryError(`${a.keyword}: a ${a.vr} value cannot hold the wildcards * or ?`);
  if (a.vr !== 'PN' && value.includes('\\')) {
    const values = value
      .split('\\')
      .map((v) => v.trim())
      .filter(Boolean);
    if (values.some((v) => /[*?]/.test(v)))
      throw new QueryError(`${a.keyword}: wildcards inside a list of values are not supported`);
    if (values.length > MAX_LIST_VALUES)
      throw new QueryError(`${a.keyword}: at most ${MAX_LIST_VALUES} values in a list`);
    return values.length === 1 ? { kind: 'single', value: values[0] } : { kind: 'list', values };
  }
  if (hasWildcard) return { kind: 'wildcard', pattern: value };
  if (a.vr === 'PN' && options.fuzzy) return { kind: 'fuzzy', value };
  return { kind: 'single', value };
}

/** Values in one list (UIDs of a C-MOVE, a QIDO-RS list): bound parameters, far below SQLite's limit. */
export const MAX_LIST_VALUES = 1000;

/**
 * De-identification of a Part-10 file per DICOM PS3.15 Annex E, at the byte level: every element the
 * profile keeps is copied as it is (the pixel data bit for bit, compressed or not, never re-encoded); only
 * the values the profile changes are written anew, and sequences whose content changes are re-framed with
 * defined lengths. The file meta information is replaced (preamble zeroed, MediaStorageSOPInstanceUID set
 * to the new SOP Instance UID, our implementation UID), as PS3.15 E.1.1 asks.
 *
 * What each action does here:
 * - X removes; Z writes a zero-length value (PatientName and PatientID get a pseudonym instead, which Z
 *   allows, so that keys can find the patient again); D writes a dummy valid for the VR; K keeps and
 *   processes a sequence's items recursively.
 * - U maps a UID to `2.25.<128 bits of HMAC-SHA256(secret, uid)>`: the same original UID gives the same new
 *   UID in every instance, in every sequence, and on every run with the same per-installation secret.
 * - C cleans: dates are shifted by a per-patient number of days (Modified Dates option), free text loses
 *   every identifying value found in the dataset (names, IDs, birth date, addresses, institution…) and keeps
 *   the rest, sequences are processed recursively with their unnamed text cleaned and person names replaced.
 * Combined codes are resolved by resolveCombined (see profile.ts).
 */
import { createHmac } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import dcmjs from 'dcmjs';
import { attr, parseHeader, type DicomHeader } from '../../dicom/header.js';
import { buildFileMeta, splitPart10 } from '../../dicom/part10.js';
import { DatasetWalker, type RawElement } from '../../dicom/walker.js';
import { SluiceError } from '../../errors.js';
import { Encoder } from '../../dicom/encode.js';
import { dictionaryVr } from '../../dicom/vr.js';
import {
  actionFor,
  compileProfile,
  OPTIONS,
  safePrivateKey,
  type Action,
  type CompiledProfile,
  type OptionName,
} from './profile.js';

const { DicomMessage } = dcmjs.data;

export class AnonymizationError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ANONYMIZATION.FAILED', `anonymization: ${message}`, 500, options);
  }
}

/** A value set on the root dataset after the profile ran (harmonized pseudonyms, user values). */
export interface RootTagValue {
  tag: number;
  value: string;
}

export interface AnonymizeOptions {
  /** Option names (Slicebox's); BASIC_PROFILE is always applied. */
  options?: readonly string[];
  /** The per-installation secret that UIDs, pseudonyms and date shifts derive from. */
  secret: Buffer | string;
  /** Root-level values applied last, over what the profile produced (empty string: zero length). */
  tagValues?: readonly RootTagValue[];
  /** Anonymize even when PatientIdentityRemoved is YES. */
  force?: boolean;
}

export interface AnonymizeResult {
  /**
   * The new file as consecutive pieces: new values, and views of the input for everything kept (the pixel
   * data is never copied). Write them with a gathering write; `bytes` joins them on first use.
   */
  readonly parts: readonly Buffer[];
  /** Total length of the parts. */
  readonly length: number;
  /** The whole file. */
  readonly bytes: Buffer;
  header: DicomHeader;
  /** True when the input was already de-identified and is answered unchanged. */
  skipped: boolean;
  /** The options applied, BASIC_PROFILE first. */
  options: readonly OptionName[];
}

export const TAG = {
  PatientName: 0x00100010,
  PatientID: 0x00100020,
  StudyInstanceUID: 0x0020000d,
  SeriesInstanceUID: 0x0020000e,
  SOPInstanceUID: 0x00080018,
  StudyDate: 0x00080020,
  StudyTime: 0x00080030,
  PatientIdentityRemoved: 0x00120062,
  DeidentificationMethod: 0x00120063,
  DeidentificationMethodCodeSequence: 0x00120064,
  LongitudinalTemporalInformationModified: 0x00280303,
  CodeValue: 0x00080100,
  CodingSchemeDesignator: 0x00080102,
  CodeMeaning: 0x00080104,
  SpecificCharacterSet: 0x00080005,
} as const;

const TEXT_VRS = new Set(['LO', 'SH', 'ST', 'LT', 'UT', 'UC', 'PN']);

/** `2.25.<decimal of 128 bits of HMAC-SHA256(secret, "uid:" + uid)>`: consistent and not reversible. */
export function mapUid(secret: Buffer | string, uid: string): string {
  const digest = createHmac('sha256', secret).update(`uid:${uid}`).digest();
  return `2.25.${BigInt('0x' + digest.subarray(0, 16).toString('hex')).toString()}`;
}

/** Pseudonyms a Z on PatientName / PatientID turns into, derived from the real patient. */
export function patientPseudonym(
  secret: Buffer | string,
  patientName: string,
  patientId: string,
): { patientName: string; patientId: string } {
  const hex = createHmac('sha256', secret)
    .update(`patient:${patientName}\u0000${patientId}`)
    .digest('hex')
    .slice(0, 12)
    .toUpperCase();
  return { patientName: `ANONYMOUS^${hex}`, patientId: `ANON${hex}` };
}

/** Days the Modified Dates option moves a patient's dates back: 1..3650, fixed per patient and secret. */
export function dateShiftDays(secret: Buffer | string, patientName: string, patientId: string): number {
  const digest = createHmac('sha256', secret).update(`dates:${patientName}\u0000${patientId}`).digest();
  return (digest.readUInt32BE(0) % 3650) + 1;
}

/** Moves `YYYYMMDD` (or the date part of a DT) back by `days`; undefined when it is not a date. */
export function shiftDate(value: string, days: number): string | undefined {
  const m = /^(\d{4})\.?(\d{2})\.?(\d{2})(.*)$/.exec(value.trim());
  if (!m) return undefined;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (Number.isNaN(t)) return undefined;
  const d = new Date(t - days * 86_400_000);
  const ymd =
    String(d.getUTCFullYear()).padStart(4, '0') +
    String(d.getUTCMonth() + 1).padStart(2, '0') +
    String(d.getUTCDate()).padStart(2, '0');
  return ymd + m[4]!;
}

/** Dummy values for D, valid for their VR. */
function dummyValue(vr: string): string | Buffer {
  switch (vr) {
    case 'PN':
      return 'ANONYMOUS';
    case 'DA':
      return '19000101';
    case 'TM':
      return '000000';
    case 'DT':
      return '19000101000000';
    case 'AS':
      return '000D';
    case 'IS':
    case 'DS':
      return '0';
    case 'CS':
    case 'AE':
      return 'ANONYMIZED';
    case 'US':
    case 'SS':
      return Buffer.alloc(2);
    case 'UL':
    case 'SL':
    case 'FL':
    case 'AT':
      return Buffer.alloc(4);
    case 'FD':
    case 'SV':
    case 'UV':
      return Buffer.alloc(8);
    case 'OB':
    case 'OW':
    case 'OF':
    case 'OD':
    case 'OL':
    case 'OV':
    case 'UN':
      return Buffer.alloc(2);
    default:
      return 'ANONYMIZED';
  }
}

/** Where an element sits: plain, inside a sequence being replaced by dummies (D) or cleaned (C). */
type Mode = 'normal' | 'dummy' | 'clean';

interface Out {
  tag: number;
  bytes: Buffer;
  /** The element's bytes as they were in the input (so its parsed value is the input header's). */
  kept?: boolean;
}

/** Whether `bytes` is the input element itself, not a rewrite. */
const isVerbatim = (buf: Buffer, el: RawElement, bytes: Buffer) =>
  bytes.buffer === buf.buffer &&
  bytes.byteOffset === buf.byteOffset + el.start &&
  bytes.length === el.end - el.start;

class Anonymizer extends Encoder {
  private readonly uids = new Map<string, string>();
  // Both derived on first use: the Basic Profile alone never cleans text nor shifts dates.
  private scrubberMemo: { pattern: RegExp | undefined } | undefined;
  private dayShiftMemo: number | undefined;
  /** Overlay groups whose Overlay Data goes: the whole overlay goes with it (a plane without data is invalid). */
  private readonly overlayGone: boolean;
  newSopInstanceUid: string;

  constructor(
    readonly reader: DatasetWalker,
    private readonly profile: CompiledProfile,
    private readonly secret: Buffer | string,
    private readonly header: DicomHeader,
  ) {
    super(reader.explicit, reader.littleEndian);
    this.overlayGone = actionFor(profile, 0x60003000) === 'X';
    this.newSopInstanceUid = header.sopInstanceUid;
  }

  private get buf() {
    return this.reader.buf;
  }

  private get dayShift(): number {
    return (this.dayShiftMemo ??= dateShiftDays(
      this.secret,
      attr(this.header, 'PatientName'),
      attr(this.header, 'PatientID'),
    ));
  }

  private get scrubber(): RegExp | undefined {
    return (this.scrubberMemo ??= { pattern: buildScrubber(this.header) }).pattern;
  }

  vrOf(el: RawElement): string {
    if (this.explicit) {
      const vr = this.buf.toString('latin1', el.start + 4, el.start + 6);
      // A public attribute sent as UN (converted from implicit VR by a peer that did not know it) is
      // handled, and rewritten, with its dictionary VR, so its text is cleaned like any other.
      if (vr === 'UN' && !el.items && !el.undefinedLength && !((el.tag >>> 16) & 1)) {
        const known = dictionaryVr(el.tag);
        return known && known !== 'SQ' ? known : vr;
      }
      return vr;
    }
    if (el.items) return 'SQ';
    return dictionaryVr(el.tag) ?? 'UN';
  }

  private value(el: RawElement): Buffer {
    return this.buf.subarray(el.start + el.headerLength, el.end);
  }

  private text(el: RawElement): string {
    return this.value(el)
      .toString('latin1')
      .replace(/[\0 ]+$/, '');
  }

  mapUid(uid: string): string {
    let mapped = this.uids.get(uid);
    if (!mapped) {
      mapped = mapUid(this.secret, uid);
      this.uids.set(uid, mapped);
    }
    return mapped;
  }

  /** Processes one list of elements (the root dataset or an item). */
  elements(list: readonly RawElement[], mode: Mode, root: boolean): Out[] {
    const out: Out[] = [];
    const creators = privateCreators(this, list);
    for (const el of list) {
      const tag = el.tag;
      const group = tag >>> 16;
      // Group lengths would be wrong after the rewrite; they are retired and optional.
      if ((tag & 0xffff) === 0) continue;
      if (root && (tag === TAG.PatientIdentityRemoved || tag === TAG.DeidentificationMethod)) continue;
      if (root && tag === TAG.DeidentificationMethodCodeSequence) continue;
      if (group & 1) {
        const kept = this.privateElement(el, creators);
        if (kept) out.push({ tag, bytes: kept, kept: true });
        continue;
      }
      if (this.overlayGone && (group & 0xff00) === 0x6000 && group <= 0x601e) continue;
      const vr = this.vrOf(el);
      let action = actionFor(this.profile, tag);
      if (action === undefined && mode !== 'normal') action = this.unnamedAction(vr, mode);
      const bytes = this.apply(el, vr, action ?? 'K', mode, root);
      if (bytes) out.push({ tag, bytes, kept: isVerbatim(this.buf, el, bytes) });
    }
    return out;
  }

  /** Elements a D or C sequence holds and the table does not name: text is replaced or cleaned, dates follow StudyDate. */
  private unnamedAction(vr: string, mode: Mode): Action | undefined {
    if (vr === 'PN') return 'D';
    if (TEXT_VRS.has(vr)) return mode === 'dummy' ? 'D' : 'C';
    if (vr === 'DA' || vr === 'DT') return actionFor(this.profile, TAG.StudyDate);
    if (vr === 'TM') return actionFor(this.profile, TAG.StudyTime);
    return undefined;
  }

  private apply(el: RawElement, vr: string, action: Action, mode: Mode, root: boolean): Buffer | undefined {
    const tag = el.tag;
    switch (action) {
      case 'X':
        return undefined;
      case 'Z':
        if (el.items) return this.encodeSequence(tag, []);
        return this.encode(tag, vr, Buffer.alloc(0));
      case 'K':
        if (el.items) return this.sequence(el, mode);
        return this.buf.subarray(el.start, el.end);
      case 'D':
        if (el.items) return this.sequence(el, 'dummy');
        if (vr === 'UI') return this.uid(el, root);
        return this.encodeValue(tag, vr, dummyValue(vr));
      case 'U':
        if (el.items) return this.sequence(el, mode);
        if (vr === 'UI' || vr === 'UN') return this.uid(el, root);
        return this.encodeValue(tag, vr, dummyValue(vr));
      case 'C':
        return this.clean(el, vr);
    }
  }

  private uid(el: RawElement, root: boolean): Buffer {
    const mapped = this.text(el)
      .split('\\')
      .map((u) => u.trim())
      .map((u) => (u ? this.mapUid(u) : u))
      .join('\\');
    if (root && el.tag === TAG.SOPInstanceUID) this.newSopInstanceUid = mapped;
    return this.encodeText(el.tag, 'UI', mapped);
  }

  private clean(el: RawElement, vr: string): Buffer | undefined {
    const tag = el.tag;
    if (el.items) return this.sequence(el, 'clean');
    if (vr === 'DA' || vr === 'DT') {
      if (!this.profile.modifiedDates) return this.encodeValue(tag, vr, dummyValue(vr));
      const shifted = this.text(el)
        .split('\\')
        .map((v) => (v.trim() ? (shiftDate(v, this.dayShift) ?? '') : ''))
        .join('\\');
      return this.encodeText(tag, vr, shifted);
    }
    // Whole days move dates only: times keep their meaning (PS3.15 E.3.6 allows either).
    if (vr === 'TM') return this.buf.subarray(el.start, el.end);
    if (vr === 'PN') return this.encodeText(tag, vr, 'ANONYMOUS');
    if (TEXT_VRS.has(vr)) return this.encodeText(tag, vr, this.scrub(this.text(el)));
    // Binary graphics (overlay bitmaps, curve samples) and numbers are kept: see README.
    return this.buf.subarray(el.start, el.end);
  }

  /** Removes every identifying value found in the dataset from free text; keeps the rest. */
  scrub(text: string): string {
    if (!this.scrubber) return text;
    return text
      .replace(this.scrubber, '')
      .replace(/[ \t]{2,}/g, ' ')
      .replace(/^[ ,;:^-]+|[ ,;:^-]+$/g, '');
  }

  private sequence(el: RawElement, mode: Mode): Buffer {
    return this.encodeSequence(
      el.tag,
      el.items!.map((item) => this.elements(item.elements, mode, false).map((o) => o.bytes)),
    );
  }

  /** A private element kept as safe (Retain Safe Private), or removed. */
  private privateElement(el: RawElement, creators: Map<number, string>): Buffer | undefined {
    if (this.profile.privateAction !== 'C' || !this.profile.safePrivate.size) return undefined;
    const group = el.tag >>> 16;
    const element = el.tag & 0xffff;
    if (element >= 0x0010 && element <= 0x00ff) {
      // A creator stays when it reserves a block holding a safe element of this list.
      return creators.has((group << 8) | element) && this.creatorNeeded(group, element, creators)
        ? this.buf.subarray(el.start, el.end)
        : undefined;
    }
    if (element < 0x1000) return undefined;
    const creator = creators.get((group << 8) | (element >>> 8));
    if (creator === undefined) return undefined;
    return this.profile.safePrivate.has(safePrivateKey(group, creator, element & 0xff))
      ? this.buf.subarray(el.start, el.end)
      : undefined;
  }

  private creatorNeeded(group: number, block: number, creators: Map<number, string>): boolean {
    const creator = creators.get((group << 8) | block)!;
    for (let ee = 0; ee < 256; ee++)
      if (this.profile.safePrivate.has(safePrivateKey(group, creator, ee))) return true;
    return false;
  }
}

/** Private creators of a list of elements: `(group << 8) | block` → creator string. */
function privateCreators(anonymizer: Anonymizer, list: readonly RawElement[]): Map<number, string> {
  const creators = new Map<number, string>();
  for (const el of list) {
    const group = el.tag >>> 16;
    const element = el.tag & 0xffff;
    if (group & 1 && element >= 0x0010 && element <= 0x00ff && !el.items) {
      const value = anonymizer.reader.buf
        .subarray(el.start + el.headerLength, el.end)
        .toString('latin1')
        .replace(/[\0 ]+$/, '')
        .trim();
      creators.set((group << 8) | element, value);
    }
  }
  return creators;
}

/** Root attributes whose values are identifying wherever they appear in free text. */
const IDENTIFYING_KEYWORDS = [
  'PatientName',
  'PatientID',
  'OtherPatientIDs',
  'OtherPatientNames',
  'PatientBirthName',
  'PatientMotherBirthName',
  'PatientAddress',
  'PatientTelephoneNumbers',
  'MedicalRecordLocator',
  'AccessionNumber',
  'StudyID',
  'InstitutionName',
  'InstitutionAddress',
  'InstitutionalDepartmentName',
  'ReferringPhysicianName',
  'ReferringPhysicianAddress',
  'PerformingPhysicianName',
  'NameOfPhysiciansReadingStudy',
  'PhysiciansOfRecord',
  'RequestingPhysician',
  'OperatorsName',
  'StationName',
  'DeviceSerialNumber',
  'AdmissionID',
  'IssuerOfPatientID',
  'PatientBirthDate',
];

/** One case-insensitive pattern matching every identifying value of the dataset as a whole word. */
function buildScrubber(header: DicomHeader): RegExp | undefined {
  const utf8 = attr(header, 'SpecificCharacterSet').includes('ISO_IR 192');
  const tokens = new Set<string>();
  const add = (s: string, min: number) => {
    const t = s.trim();
    if (t.length >= min) tokens.add(utf8 ? Buffer.from(t, 'utf8').toString('latin1') : t);
  };
  for (const keyword of IDENTIFYING_KEYWORDS) {
    let value: string;
    try {
      value = attr(header, keyword);
    } catch {
      continue;
    }
    if (!value) continue;
    for (const v of value.split('\\')) {
      add(v, 3);
      // Person names: each component (family, given…) alone; "^" and "=" separate them.
      if (keyword.endsWith('Name') || keyword === 'PatientName')
        for (const part of v.split(/[\^=]/)) add(part, 2);
      if (keyword === 'PatientBirthDate' && /^\d{8}$/.test(v)) {
        const [y, m, d] = [v.slice(0, 4), v.slice(4, 6), v.slice(6, 8)];
        for (const f of [
          `${y}-${m}-${d}`,
          `${d}.${m}.${y}`,
          `${m}/${d}/${y}`,
          `${d}/${m}/${y}`,
          `${y}/${m}/${d}`,
        ])
          add(f, 3);
      }
    }
  }
  if (!tokens.size) return undefined;
  const escaped = [...tokens]
    .sort((a, b) => b.length - a.length)
    .map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`(?<![\\p{L}\\p{N}])(?:${escaped.join('|')})(?![\\p{L}\\p{N}])`, 'giu');
}

/** The Deidentification Method text: one value per option (LO holds 64 characters per value). */
function methodValues(options: readonly OptionName[]): string {
  return options.map((o) => OPTIONS[o].description.slice(0, 64)).join('\\');
}

/**
 * Anonymizes a Part-10 file. Pure: the result depends only on the bytes, the options, the tag values and
 * the secret. Throws InvalidDicomError for unreadable input, AnonymizationError when the result would not
 * read back.
 */
export function anonymize(file: Buffer, opts: AnonymizeOptions, known?: DicomHeader): AnonymizeResult {
  const profile = compileProfile(opts.options ?? []);
  const header = known ?? parseHeader(file);
  if (!opts.force && attr(header, 'PatientIdentityRemoved').toUpperCase() === 'YES')
    return unchanged(file, header, profile.options);

  const ts = header.transferSyntaxUid;
  const { dataset, deflated, explicit, littleEndian } = splitPart10(file, ts);
  const reader = new DatasetWalker(dataset, explicit, littleEndian);
  const anonymizer = new Anonymizer(reader, profile, opts.secret, header);
  const root = anonymizer.elements(reader.elements(0, dataset.length, 0).elements, 'normal', true);

  // Root values set after the profile: pseudonyms, the de-identification record, then the caller's values.
  const set = new Map<number, Buffer>();
  const put = (tag: number, value: string) =>
    set.set(tag, anonymizer.encodeText(tag, dictionaryVr(tag) ?? 'LO', value));
  const pseudonym = patientPseudonym(opts.secret, attr(header, 'PatientName'), attr(header, 'PatientID'));
  if (actionFor(profile, TAG.PatientName) !== 'K') put(TAG.PatientName, pseudonym.patientName);
  if (actionFor(profile, TAG.PatientID) !== 'K') put(TAG.PatientID, pseudonym.patientId);
  put(TAG.PatientIdentityRemoved, 'YES');
  put(TAG.DeidentificationMethod, methodValues(profile.options));
  set.set(
    TAG.DeidentificationMethodCodeSequence,
    anonymizer.encodeSequence(
      TAG.DeidentificationMethodCodeSequence,
      profile.options.map((o) => [
        anonymizer.encodeText(TAG.CodeValue, 'SH', OPTIONS[o].code),
        anonymizer.encodeText(TAG.CodingSchemeDesignator, 'SH', 'DCM'),
        anonymizer.encodeText(TAG.CodeMeaning, 'LO', OPTIONS[o].description.slice(0, 64)),
      ]),
    ),
  );
  put(
    TAG.LongitudinalTemporalInformationModified,
    profile.modifiedDates ? 'MODIFIED' : profile.fullDates ? 'UNMODIFIED' : 'REMOVED',
  );
  for (const { tag, value } of opts.tagValues ?? []) {
    if (tag >>> 16 === 0x0002 || tag === 0x7fe00010)
      throw new AnonymizationError(`tag value for (${tag.toString(16)}) is not allowed`);
    put(tag, value);
    if (tag === TAG.SOPInstanceUID) anonymizer.newSopInstanceUid = value;
  }
  const merged: Out[] = root.filter((o) => !set.has(o.tag));
  for (const [tag, bytes] of set) merged.push({ tag, bytes });
  merged.sort((a, b) => a.tag - b.tag);

  const meta = buildFileMeta({
    sopClassUid: header.sopClassUid,
    sopInstanceUid: anonymizer.newSopInstanceUid,
    transferSyntaxUid: ts,
  });
  return finish(meta, merged, deflated, profile.options, 'anonymized', header);
}

/** A result whose `bytes` are joined only when someone asks for them. */
class PartsResult implements AnonymizeResult {
  private joined: Buffer | undefined;
  readonly length: number;
  constructor(
    readonly parts: readonly Buffer[],
    public header: DicomHeader,
    readonly skipped: boolean,
    readonly options: readonly OptionName[],
  ) {
    this.length = parts.reduce((n, p) => n + p.length, 0);
  }
  get bytes(): Buffer {
    if (this.parts.length === 1) return this.parts[0]!;
    return (this.joined ??= Buffer.concat(this.parts as Buffer[], this.length));
  }
}

/** The unchanged input, as a result. */
function unchanged(file: Buffer, header: DicomHeader, options: readonly OptionName[]): AnonymizeResult {
  return new PartsResult([file], header, true, options);
}

/**
 * Assembles the file meta and the root elements, and checks that the result reads back: the header (what
 * comes before the pixel data) is parsed from a small joined copy; the rest stays in pieces.
 */
function finish(
  meta: Buffer,
  merged: readonly Out[],
  deflated: boolean,
  options: readonly OptionName[],
  what: string,
  input: DicomHeader,
): AnonymizeResult {
  try {
    if (deflated) {
      const bytes = Buffer.concat([meta, deflateRawSync(Buffer.concat(merged.map((o) => o.bytes)))]);
      return new PartsResult([bytes], parseHeader(bytes), false, options);
    }
    const parts = [meta, ...merged.map((o) => o.bytes)];
    const pixel = merged.findIndex((o) => o.tag === 0x7fe00010);
    if (pixel < 0) {
      const result = new PartsResult(parts, undefined as never, false, options);
      result.header = parseHeader(result.bytes);
      return result;
    }
    const header = headerOf(meta, merged.slice(0, pixel), input);
    header.pixelDataOffset = parts.slice(0, pixel + 1).reduce((n, p) => n + p.length, 0);
    return new PartsResult(parts, header, false, options);
  } catch (err) {
    throw new AnonymizationError(`the ${what} instance does not read back: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * The header of the new file without parsing it all again: elements kept verbatim take their parsed value
 * from the input's header; only the new ones (and the character set they are read with) go through dcmjs.
 */
function headerOf(
  meta: Buffer,
  head: readonly Out[],
  input: DicomHeader,
): { -readonly [K in keyof DicomHeader]: DicomHeader[K] } {
  const changed = head.filter((o) => !o.kept || o.tag === TAG.SpecificCharacterSet);
  const mini = Buffer.concat([meta, ...changed.map((o) => o.bytes)]);
  // One dcmjs pass over meta and new elements (parseHeader would read the meta twice).
  const read = DicomMessage.readFile(
    mini.buffer.slice(mini.byteOffset, mini.byteOffset + mini.length) as ArrayBuffer,
    { ignoreErrors: false },
  );
  const parsed = {
    meta: read.meta as DicomHeader['meta'],
    dataset: read.dict as DicomHeader['dataset'],
    transferSyntaxUid: input.transferSyntaxUid,
    sopInstanceUid: String(read.meta['00020003']?.Value?.[0] ?? '').replace(/[\0 ]+$/, ''),
    pixelDataOffset: -1,
  };
  const dataset: DicomHeader['dataset'] = {};
  for (const o of head) {
    const key = o.tag.toString(16).toUpperCase().padStart(8, '0');
    const value = o.kept ? input.dataset[key] : parsed.dataset[key];
    // An element the input's parse did not give (dcmjs skips some): read the whole header after all.
    if (!value) return { ...parseHeader(Buffer.concat([meta, ...head.map((h) => h.bytes)])) };
    dataset[key] = value;
  }
  return { ...parsed, dataset, sopClassUid: input.sopClassUid };
}

/** A root attribute to set (a string value, VR from the dictionary) or to remove (undefined). */
export interface RootChange {
  tag: number;
  value: string | undefined;
}

/**
 * Sets or removes root attributes of a Part-10 file at the byte level (everything else copied as it is) and
 * rewrites the file meta to match the SOP Instance UID. Used by reverse anonymization.
 */
export function setRootValues(
  file: Buffer,
  changes: readonly RootChange[],
  known?: DicomHeader,
): AnonymizeResult {
  const header = known ?? parseHeader(file);
  const ts = header.transferSyntaxUid;
  const { dataset, deflated, explicit, littleEndian } = splitPart10(file, ts);
  const reader = new DatasetWalker(dataset, explicit, littleEndian);
  const encoder = new Encoder(reader.explicit, reader.littleEndian);
  const changed = new Map(changes.map((c) => [c.tag, c.value]));
  const out: Out[] = reader
    .elements(0, dataset.length, 0)
    .elements.filter((el) => !changed.has(el.tag))
    .map((el) => ({ tag: el.tag, bytes: dataset.subarray(el.start, el.end), kept: true }));
  let sopInstanceUid = header.sopInstanceUid;
  for (const [tag, value] of changed) {
    if (tag >>> 16 === 0x0002 || tag === 0x7fe00010 || (tag >>> 16) % 2 === 1)
      throw new AnonymizationError(`cannot set (${tag.toString(16)}) at the root`);
    if (value === undefined) continue;
    out.push({ tag, bytes: encoder.encodeText(tag, dictionaryVr(tag) ?? 'LO', value) });
    if (tag === TAG.SOPInstanceUID) sopInstanceUid = value;
  }
  out.sort((a, b) => a.tag - b.tag);
  const meta = buildFileMeta({ sopClassUid: header.sopClassUid, sopInstanceUid, transferSyntaxUid: ts });
  return finish(meta, out, deflated, [], 'rewritten', header);
}

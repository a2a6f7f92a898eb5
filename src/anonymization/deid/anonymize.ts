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
 *   what identifies someone (scrub.ts) and keeps the rest, sequences are processed recursively with their
 *   unnamed text cleaned and person names replaced.
 * Combined codes are resolved by resolveCombined (see profile.ts).
 *
 * An instance that says PatientIdentityRemoved YES is anonymized like any other, unless its record shows
 * that this installation applied exactly the requested options to it (methodMark): anonymizing it again
 * would map its UIDs a second time.
 */
import { attr, parseHeader, type DicomHeader } from '../../dicom/header.js';
import { Encoder } from '../../dicom/encode.js';
import { buildFileMeta, splitPart10 } from '../../dicom/part10.js';
import { dictionaryVr, PIXEL_DATA } from '../../dicom/vr.js';
import { DatasetWalker } from '../../dicom/walker.js';
import { Anonymizer, type Out } from './anonymizer.js';
import { methodMark, patientPseudonym } from './derive.js';
import { actionFor, compileProfile, OPTIONS, type OptionName } from './profile.js';
import { AnonymizationError, finish, unchanged, type AnonymizeResult } from './result.js';
import { TAG } from './tags.js';

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
  /** Anonymize even when this installation already applied the same options to the instance. */
  force?: boolean;
  /** UIDs mapped to these values wherever they appear, rather than derived from the secret. */
  uids?: ReadonlyMap<string, string>;
}

/**
 * The Deidentification Method text: one value per option (LO holds 64 characters per value), then the mark
 * that says this installation applied them to this instance.
 */
function methodValues(options: readonly OptionName[], mark: string): string {
  return [...options.map((o) => OPTIONS[o].description.slice(0, 64)), mark].join('\\');
}

/** Whether this installation already applied exactly these options to the instance (see methodMark). */
export function alreadyAnonymized(
  header: DicomHeader,
  options: readonly OptionName[],
  secret: Buffer | string,
): boolean {
  if (attr(header, 'PatientIdentityRemoved').toUpperCase() !== 'YES') return false;
  const mark = methodMark(secret, options, header.sopInstanceUid);
  const element = header.dataset['00120063'];
  return (element?.Value ?? []).some((v) => String(v).trim() === mark);
}

/**
 * Anonymizes a Part-10 file. Pure: the result depends only on the bytes, the options, the tag values and
 * the secret. Throws InvalidDicomError for unreadable input, AnonymizationError when the result would not
 * read back.
 */
export function anonymize(file: Buffer, opts: AnonymizeOptions, known?: DicomHeader): AnonymizeResult {
  const profile = compileProfile(opts.options ?? []);
  const header = known ?? parseHeader(file);
  if (!opts.force && alreadyAnonymized(header, profile.options, opts.secret))
    return unchanged(file, header, profile.options);

  const ts = header.transferSyntaxUid;
  const { dataset, deflated, explicit, littleEndian } = splitPart10(file, ts);
  const reader = new DatasetWalker(dataset, explicit, littleEndian, { unknownSequences: true });
  const tree = reader.elements(0, dataset.length, 0).elements;
  const anonymizer = new Anonymizer(reader, profile, opts.secret, header, tree, { uids: opts.uids });
  const root = anonymizer.elements(tree, 'normal', true);
  for (const { tag, value } of opts.tagValues ?? [])
    if (tag === TAG.SOPInstanceUID) anonymizer.newSopInstanceUid = value;

  // Root values set after the profile: pseudonyms, the de-identification record, then the caller's values.
  const set = new Map<number, Buffer>();
  const put = (tag: number, value: string) =>
    set.set(tag, anonymizer.encodeText(tag, dictionaryVr(tag) ?? 'LO', value));
  const pseudonym = patientPseudonym(opts.secret, attr(header, 'PatientName'), attr(header, 'PatientID'));
  if (actionFor(profile, TAG.PatientName) !== 'K') put(TAG.PatientName, pseudonym.patientName);
  if (actionFor(profile, TAG.PatientID) !== 'K') put(TAG.PatientID, pseudonym.patientId);
  put(TAG.PatientIdentityRemoved, 'YES');
  put(
    TAG.DeidentificationMethod,
    methodValues(profile.options, methodMark(opts.secret, profile.options, anonymizer.newSopInstanceUid)),
  );
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
    if (tag >>> 16 === 0x0002 || tag === PIXEL_DATA)
      throw new AnonymizationError(`tag value for (${tag.toString(16)}) is not allowed`);
    put(tag, value);
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
  const encoder = new Encoder(explicit, littleEndian);
  const changed = new Map(changes.map((c) => [c.tag, c.value]));
  const out: Out[] = reader
    .elements(0, dataset.length, 0)
    .elements.filter((el) => !changed.has(el.tag))
    .map((el) => ({ tag: el.tag, bytes: dataset.subarray(el.start, el.end), kept: true }));
  let sopInstanceUid = header.sopInstanceUid;
  for (const [tag, value] of changed) {
    if (tag >>> 16 === 0x0002 || tag === PIXEL_DATA || (tag >>> 16) % 2 === 1)
      throw new AnonymizationError(`cannot set (${tag.toString(16)}) at the root`);
    if (value === undefined) continue;
    out.push({ tag, bytes: encoder.encodeText(tag, dictionaryVr(tag) ?? 'LO', value) });
    if (tag === TAG.SOPInstanceUID) sopInstanceUid = value;
  }
  out.sort((a, b) => a.tag - b.tag);
  const meta = buildFileMeta({ sopClassUid: header.sopClassUid, sopInstanceUid, transferSyntaxUid: ts });
  return finish(meta, out, deflated, [], 'rewritten', header);
}

/**
 * What every instance must show before it becomes an envelope, whatever brought it: the identifiers the
 * index files it under, and (over DICOM) the same SOP class and instance its C-STORE request named.
 * Without them an empty or header-only object would be indexed under empty UIDs or replace a stored
 * instance it has nothing to do with.
 */
import { InvalidDicomError } from '../errors.js';
import { attr, isValidUid, type DicomHeader } from '../dicom/header.js';

/** What a C-STORE request said it carries (AffectedSOPClassUID, AffectedSOPInstanceUID). */
export interface Announced {
  sopClassUid: string;
  sopInstanceUid: string;
}

const REQUIRED = ['SOPClassUID', 'SOPInstanceUID', 'StudyInstanceUID', 'SeriesInstanceUID'] as const;

/** Throws InvalidDicomError (refused, quarantined) naming what is missing, malformed or contradicted. */
export function admit(header: DicomHeader, announced?: Announced): void {
  for (const keyword of REQUIRED) {
    const value = attr(header, keyword);
    if (!value) throw new InvalidDicomError(`the dataset has no ${keyword}`);
    if (!isValidUid(value)) throw new InvalidDicomError(`${keyword} "${value}" is not a valid UID`);
  }
  if (!announced) return;
  // Said first, so that the reason survives the 64 characters of a C-STORE response's Error Comment.
  if (announced.sopInstanceUid !== header.sopInstanceUid)
    throw new InvalidDicomError(
      `SOP instance differs from the C-STORE request: the request names ${announced.sopInstanceUid}, the dataset is ${header.sopInstanceUid}`,
    );
  if (announced.sopClassUid !== header.sopClassUid)
    throw new InvalidDicomError(
      `SOP class differs from the C-STORE request: the request names ${announced.sopClassUid}, the dataset is ${header.sopClassUid}`,
    );
}

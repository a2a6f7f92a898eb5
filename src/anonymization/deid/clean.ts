/**
 * The values D and C write: dummies valid for their VR, dates moved back by whole days, and free text with
 * every identifying value of the dataset taken out.
 */
import { attr, type DicomHeader } from '../../dicom/header.js';

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
export function dummyValue(vr: string): string | Buffer {
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
export function buildScrubber(header: DicomHeader): RegExp | undefined {
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

/** Removes every identifying value the scrubber matches from free text; keeps the rest. */
export function scrubText(text: string, scrubber: RegExp | undefined): string {
  if (!scrubber) return text;
  return text
    .replace(scrubber, '')
    .replace(/[ \t]{2,}/g, ' ')
    .replace(/^[ ,;:^-]+|[ ,;:^-]+$/g, '');
}

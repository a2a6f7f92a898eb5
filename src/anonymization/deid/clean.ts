/**
 * The values D and C write: dummies valid for their VR and dates moved back by whole days (free text is
 * cleaned by scrub.ts).
 */

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
    case 'OB':
    case 'OW':
    case 'UN':
      return Buffer.alloc(2);
    case 'UL':
    case 'SL':
    case 'FL':
    case 'AT':
    case 'OF':
    case 'OL':
      return Buffer.alloc(4);
    case 'FD':
    case 'SV':
    case 'UV':
    case 'OD':
    case 'OV':
      return Buffer.alloc(8);
    default:
      return 'ANONYMIZED';
  }
}

/** Formatting DICOM values for people. */

/** `20260131` → `2026-01-31`; anything else as it is. */
export function dicomDate(value: string | undefined): string {
  if (!value) return '';
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(value.trim());
  return m ? `${m[1]}-${m[2]}-${m[3]}` : value;
}

/** `2026-01-31` (a date input) → `20260131`. */
export function toDicomDate(value: string): string {
  return value.replace(/-/g, '');
}

/** `Doe^John^^Dr` → `Doe, John Dr`. */
export function personName(value: string | undefined): string {
  if (!value) return '';
  const [family = '', given = '', middle = '', prefix = '', suffix = ''] = value.split('=')[0]!.split('^');
  const rest = [prefix, given, middle, suffix].filter(Boolean).join(' ');
  return family && rest ? `${family}, ${rest}` : family || rest;
}

export function dateTime(ms: number | string | undefined | null): string {
  if (ms === undefined || ms === null || ms === '' || ms === 0) return '';
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toLocaleString();
}

/** `(0010,0010)` from a tag number. */
export function tagString(tag: number): string {
  const hex = tag.toString(16).toUpperCase().padStart(8, '0');
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** Sorts by a DICOM integer string (InstanceNumber), non-numbers last. */
export function byInstanceNumber<T extends { instanceNumber: { value: string }; id: number }>(
  a: T,
  b: T,
): number {
  const x = parseInt(a.instanceNumber.value, 10);
  const y = parseInt(b.instanceNumber.value, 10);
  if (Number.isNaN(x) && Number.isNaN(y)) return a.id - b.id;
  if (Number.isNaN(x)) return 1;
  if (Number.isNaN(y)) return -1;
  return x - y || a.id - b.id;
}
